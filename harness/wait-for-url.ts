/** Waiting for a server to answer over HTTP, e.g. a registry or wrangler dev that was just started. */
import { setTimeout as sleep } from "node:timers/promises";
import type { ManagedProcess } from "./managed-process";

const OUTPUT_SETTLE_MS = 500;

export interface WaitForUrlOptions {
  timeoutMs?: number;
  /** Which HTTP status means ready; any answer by default. */
  accept?: (status: number) => boolean;
  /** Stop waiting (with its log tail) as soon as this process exits. */
  process?: ManagedProcess;
  headers?: Record<string, string>;
}

/** Polls `url` with GET until it answers with an accepted status; returns that response. */
export async function waitForUrl(url: string, options: WaitForUrlOptions = {}): Promise<Response> {
  const { timeoutMs = 30_000, accept = () => true, process: owner, headers } = options;
  const deadline = Date.now() + timeoutMs;
  let last = "no answer yet";
  while (Date.now() < deadline) {
    if (owner && !owner.running) {
      const { code, signal } = await owner.exited;
      await sleep(OUTPUT_SETTLE_MS); // so the tail holds its last words
      throw new Error(`${owner.name} exited (code ${code ?? "none"}, signal ${signal ?? "none"}) while waiting for ${url} (${last})\n${owner.tail()}`);
    }
    try {
      const response = await fetch(url, { headers, signal: AbortSignal.timeout(Math.min(5_000, Math.max(1, deadline - Date.now()))) });
      if (accept(response.status)) return response;
      last = `last answer: HTTP ${response.status}`;
      await response.body?.cancel();
    } catch (error) {
      last = `last error: ${(error as Error).cause ?? (error as Error).message}`;
    }
    await sleep(100);
  }
  throw new Error(`${url} was not ready within ${timeoutMs} ms (${last})${owner ? `\n${owner.tail()}` : ""}`);
}
