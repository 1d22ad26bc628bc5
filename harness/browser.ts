/**
 * Debian's Chromium driven by playwright-core, for tests of the pages the
 * Worker serves. No browser is downloaded (nothing can be, here): the
 * installed one runs headless with a fresh profile under the run dir, with
 * everything that would reach out on its own (updates, sync, QUIC probes,
 * background fetches) turned off.
 */
import { chromium, type BrowserContext, type Page, type Request } from "playwright-core";
import { tempDir } from "./run-dir";

export const CHROMIUM = "/usr/bin/chromium";
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Every request the page made, for checking that none left the machine. */
  requests: string[];
  /** Console errors and page errors, CSP violations among them. */
  errors: string[];
  close(): Promise<void>;
}

export async function openBrowser(viewport = { width: 1200, height: 860 }): Promise<Browser> {
  const context = await chromium.launchPersistentContext(tempDir("chromium-profile"), {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const requests: string[] = [];
  const errors: string[] = [];
  context.on("request", (request: Request) => requests.push(request.url()));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(error.message));
  return { context, page, requests, errors, close: () => context.close() };
}
