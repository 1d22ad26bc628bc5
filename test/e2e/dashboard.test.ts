/**
 * The dashboard and /docs in a real browser (Debian's Chromium through
 * playwright-core) against wrangler dev, a real agent, Engine and registry:
 * sign in with the keyboard, start a build from the API and watch its log
 * lines appear live on the build page, see it end succeeded with its digest,
 * cancel another while it runs, look at the agents and the queue, and load
 * /docs, all without a request leaving 127.0.0.1. A screenshot of each page is
 * kept under the run dir (its path is printed). The OpenAPI document is also
 * validated here as OpenAPI 3.1 (the validator compiles code, which workerd
 * does not allow).
 */
import { mkdirSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { Validator } from "@seriousme/openapi-schema-validator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ok } from "../../harness/api";
import { openBrowser, type Browser } from "../../harness/browser";
import { REPO_ROOT } from "../../harness/run-dir";
import { startStack, type Stack } from "../../harness/stack";

let stack: Stack;
let browser: Browser;
let screenshots: string;

beforeAll(async () => {
  stack = await startStack({ agent: { name: "dash-agent" } });
  screenshots = join(stack.runDir, "screenshots");
  mkdirSync(screenshots, { recursive: true });
  console.log(`dashboard screenshots: ${screenshots}`);
  browser = await openBrowser();
});

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

async function shoot(name: string): Promise<string> {
  const path = join(screenshots, `${name}.png`);
  await browser.page.screenshot({ path, fullPage: true });
  return path;
}

function submit(dockerfile: string, repo: string) {
  return stack.api.submitSeedBuild({
    query: { user_name: stack.secrets.registryUser, repo, tag: "v1", registry: stack.registry.host },
    fields: { password: stack.secrets.registryPassword },
    dockerfile,
  });
}

describe("the dashboard in Chromium", () => {
  it("signs in with an API token, typed and submitted from the keyboard; a wrong one is refused", async () => {
    const { page } = browser;
    await page.goto(`${stack.worker.url}/dashboard`);
    const token = page.getByLabel("API token");
    await token.focus();
    await page.keyboard.type("not-the-token");
    await page.keyboard.press("Enter");
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("refused");
    await token.fill("");
    await page.keyboard.type(stack.secrets.apiToken);
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Builds" }).waitFor();
    // The token is in this tab's sessionStorage and in no URL.
    // Evaluated in the page (a string, since this file is typed for Node, not the DOM).
    expect(await page.evaluate('sessionStorage.getItem("dockify.apiToken")')).toBe(stack.secrets.apiToken);
    expect(browser.requests.some((url) => url.includes(stack.secrets.apiToken))).toBe(false);
  });

  it("shows a build's log lines live, then its end, succeeded with its digest", async () => {
    const { page } = browser;
    const { task_id: id } = ok(
      await submit(`FROM ${stack.baseImage}\nRUN : ${randomUUID()}; for i in $(seq 1 12); do echo "numbered line $i"; sleep 0.5; done\n`, "dashboard"),
    );
    await page.goto(`${stack.worker.url}/dashboard#/builds/${id}`);
    const log = page.getByRole("log", { name: "Build log" });
    await expect.poll(() => log.textContent(), { timeout: 60_000 }).toContain("numbered line 3");
    // Seen while the build still runs: the lines came live, not with the final record.
    expect(ok(await stack.api.build(id)).state).not.toBe("succeeded");
    expect(await log.textContent()).not.toContain("numbered line 12");
    await shoot("build-running");

    await expect.poll(() => page.locator("h1 .badge").textContent(), { timeout: 60_000 }).toBe("succeeded");
    const final = ok(await stack.api.build(id));
    expect(final.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    await expect.poll(() => page.getByTestId("digest").textContent()).toBe(final.digest);
    const text = (await log.textContent()) ?? "";
    for (let line = 1; line <= 12; line++) expect(text).toContain(`numbered line ${line}\n`);
    expect(text).toContain("[dockify] attempt 1: assigned to agent dash-agent");
    await expect.poll(() => page.locator(".attempts").textContent()).toContain("Attempt 1 on dash-agent: succeeded");
    // BuildKit reported the steps, which the page lists.
    await expect.poll(() => page.locator("table").first().textContent()).toContain("RUN");
    await shoot("build-succeeded");
    if (process.env.DOCKIFY_UPDATE_DOCS_SCREENSHOT === "1") {
      await page.setViewportSize({ width: 1000, height: 1250 });
      await page.screenshot({ path: join(REPO_ROOT, "docs", "dashboard.png") });
      await page.setViewportSize({ width: 1200, height: 860 });
    }

    await page.getByRole("link", { name: "← All builds" }).click();
    await expect.poll(() => page.locator("tbody").textContent()).toContain(id.slice(0, 8));
    await shoot("builds");
  });

  it("cancels a running build from its page", async () => {
    const { page } = browser;
    const { task_id: id } = ok(await submit(`FROM ${stack.baseImage}\nRUN : ${randomUUID()}; echo started; sleep 120\n`, "dashboard-cancel"));
    await page.goto(`${stack.worker.url}/dashboard#/builds/${id}`);
    await expect.poll(() => page.getByRole("log", { name: "Build log" }).textContent(), { timeout: 60_000 }).toContain("started");
    await page.getByRole("button", { name: "Cancel build" }).click();
    await expect.poll(() => page.locator("h1 .badge").textContent(), { timeout: 60_000 }).toBe("canceled");
    expect(ok(await stack.api.build(id))).toMatchObject({ state: "canceled", step: "canceled" });
    await expect.poll(() => page.getByRole("button", { name: "Cancel build" }).isHidden()).toBe(true);
    await shoot("build-canceled");
  });

  it("lists the pool's agents and the queue", async () => {
    const { page } = browser;
    await page.getByRole("link", { name: "Agents and queue" }).click();
    await expect.poll(() => page.locator("tbody").textContent()).toContain("dash-agent");
    expect(await page.locator("tbody").textContent()).toMatch(/buildkit|classic/);
    await expect.poll(() => page.getByText(/waiting in the pool/).count()).toBe(1);
    await shoot("agents");
  });

  it("reads on a phone-sized screen: nothing wider than the viewport but the tables, which scroll", async () => {
    const { page } = browser;
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole("link", { name: "Builds" }).click();
    await page.getByRole("heading", { name: "Builds" }).waitFor();
    const overflow = await page.evaluate<number>("document.documentElement.scrollWidth - window.innerWidth");
    expect(overflow).toBeLessThanOrEqual(0);
    await shoot("builds-phone");
    await page.setViewportSize({ width: 1200, height: 860 });
  });

  it("serves /docs from the Worker itself, rendering the API", async () => {
    const { page } = browser;
    await page.goto(`${stack.worker.url}/docs`);
    await expect.poll(() => page.locator(".swagger-ui .info .title").textContent(), { timeout: 30_000 }).toContain("Dockify");
    await expect.poll(() => page.getByText("/v1/builds/{id}/logs", { exact: true }).count()).toBeGreaterThan(0);
    await shoot("docs");
  });

  it("sent no request off this machine and broke no Content-Security-Policy rule", () => {
    const offMachine = browser.requests.filter((url) => !url.startsWith("data:") && new URL(url).hostname !== "127.0.0.1");
    expect(offMachine).toEqual([]);
    expect(browser.errors.filter((error) => /Content Security Policy|Refused to/i.test(error))).toEqual([]);
  });
});

describe("GET /openapi.json", () => {
  it("validates as OpenAPI 3.1", async () => {
    const response = await fetch(`${stack.worker.url}/openapi.json`);
    expect(response.status).toBe(200);
    const validator = new Validator();
    const result = await validator.validate((await response.json()) as Parameters<Validator["validate"]>[0]);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
  });
});
