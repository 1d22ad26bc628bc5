/**
 * The webhook signature as the pool writes it (worker/webhooks/signature.ts,
 * WebCrypto) checked with the recipe README gives receivers
 * (examples/verify-webhook.mjs, node:crypto), which README shows verbatim.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { verifyDockifyWebhook } from "../../examples/verify-webhook.mjs";
import { REPO_ROOT } from "../../harness/run-dir";
import { signatureHeader } from "../../worker/webhooks/signature";

const SECRET = "whsec-test-0123456789abcdef0123456789";
const BODY = JSON.stringify({ id: "d1", type: "build.finished", attempt: 1, build: { id: "b1", state: "succeeded" } });
const now = () => Math.floor(Date.now() / 1000);

describe("webhook signatures", () => {
  it("verify with README's recipe, and only for the exact body, secret and a recent time", async () => {
    const header = await signatureHeader([SECRET], BODY, now());
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verifyDockifyWebhook(SECRET, header, BODY)).toBe(true);
    expect(verifyDockifyWebhook(SECRET, header, Buffer.from(BODY))).toBe(true);
    expect(verifyDockifyWebhook(SECRET, header, `${BODY} `)).toBe(false);
    expect(verifyDockifyWebhook(`${SECRET}x`, header, BODY)).toBe(false);
    expect(verifyDockifyWebhook(SECRET, undefined, BODY)).toBe(false);
    expect(verifyDockifyWebhook(SECRET, header.replace(/v1=.*/, "v1=00"), BODY)).toBe(false);
    const old = await signatureHeader([SECRET], BODY, now() - 600);
    expect(verifyDockifyWebhook(SECRET, old, BODY)).toBe(false);
  });

  it("carry one signature per secret during a rotation, so either secret verifies", async () => {
    const previous = "whsec-old-0123456789abcdef0123456789ab";
    const header = await signatureHeader([SECRET, previous], BODY, now());
    expect(header.split(",").filter((part) => part.startsWith("v1="))).toHaveLength(2);
    expect(verifyDockifyWebhook(SECRET, header, BODY)).toBe(true);
    expect(verifyDockifyWebhook(previous, header, BODY)).toBe(true);
    expect(verifyDockifyWebhook("whsec-other-0123456789abcdef012345678", header, BODY)).toBe(false);
  });

  it("README shows the recipe exactly as the file the tests verify with", () => {
    const readme = readFileSync(`${REPO_ROOT}/README.md`, "utf8");
    const recipe = readFileSync(`${REPO_ROOT}/examples/verify-webhook.mjs`, "utf8");
    expect(readme).toContain(recipe.trim());
  });
});
