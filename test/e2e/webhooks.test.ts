/**
 * Webhooks end to end: real builds on the real Engine, the Worker under
 * wrangler dev, and receivers on loopback. A delivery's signature verifies
 * with README's recipe; a receiver that answers 500 twice and then 200 gets
 * exactly one successful delivery, the earlier attempts listed with their
 * status codes; a slow receiver holds up neither the next build nor its
 * webhook; a host that resolves to a private address is refused, never
 * contacted.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, webhookEvent, type Build, type DeliveryList } from "../../shared/api";
import { verifyDockifyWebhook } from "../../examples/verify-webhook.mjs";
import { ok } from "../../harness/api";
import { DohServer } from "../../harness/doh-server";
import { poll } from "../../harness/poll";
import { startStack, type Stack } from "../../harness/stack";
import { WebhookReceiver } from "../../harness/webhook-receiver";

const SECRET = randomBytes(32).toString("hex");
const TIMEOUT_SECONDS = 4;

let stack: Stack;
let doh: DohServer;
const receivers: WebhookReceiver[] = [];

beforeAll(async () => {
  doh = await DohServer.start({ "private.test": ["10.0.0.7"] });
  stack = await startStack({
    vars: {
      DOCKIFY_WEBHOOKS: JSON.stringify({ e2e: { secret: SECRET } }),
      DOCKIFY_WEBHOOK_RETRY_SECONDS: "1",
      DOCKIFY_WEBHOOK_TIMEOUT_SECONDS: String(TIMEOUT_SECONDS),
      DOCKIFY_WEBHOOK_DOH_URL: doh.url,
    },
  });
});

afterAll(async () => {
  await Promise.allSettled(receivers.map((receiver) => receiver.stop()));
  await doh?.stop();
  await stack?.stop();
});

async function receiver(...args: Parameters<typeof WebhookReceiver.start>): Promise<WebhookReceiver> {
  const started = await WebhookReceiver.start(...args);
  receivers.push(started);
  return started;
}

/** A real build that pushes to the stack's registry and notifies `notifyUrl`; returns its id. */
async function build(notifyUrl: string, repo: string): Promise<string> {
  const { task_id } = ok(
    await stack.api.submitSeedBuild({
      query: { user_name: stack.secrets.registryUser, repo, tag: "v1", registry: stack.registry.host, notify_url: notifyUrl },
      fields: { password: stack.secrets.registryPassword },
      dockerfile: `FROM ${stack.baseImage}\nRUN echo ${randomUUID()} > /marker\n`,
    }),
  );
  return task_id;
}

async function deliveries(id: string): Promise<DeliveryList["deliveries"]> {
  return ok(await stack.api.deliveries(id)).deliveries;
}

describe("webhooks end to end", () => {
  it("signs each delivery, and a receiver answering 500 twice then 200 gets exactly one successful delivery", async () => {
    const flaky = await receiver((n) => ({ status: n <= 2 ? 500 : 200 }));
    const id = await build(flaky.url("/flaky"), "hooked");
    const final = await stack.api.waitForBuild(id, (record) => record.state === "succeeded", { timeoutMs: 120_000 });
    const requests = await flaky.waitFor(3);

    const events = requests.map((request) => {
      expect(verifyDockifyWebhook(SECRET, request.headers[SIGNATURE_HEADER.toLowerCase()] as string, request.body)).toBe(true);
      expect(verifyDockifyWebhook("not-the-secret-0123456789abcdef0123", request.headers[SIGNATURE_HEADER.toLowerCase()] as string, request.body)).toBe(false);
      return webhookEvent.parse(JSON.parse(request.body));
    });
    // One delivery, three attempts: the same id (also in its header) for the receiver to drop repeats by.
    expect(new Set(events.map((event) => event.id)).size).toBe(1);
    expect(requests.map((request) => request.headers[DELIVERY_HEADER.toLowerCase()])).toEqual(events.map((event) => event.id));
    expect(requests.map((request) => request.headers[EVENT_HEADER.toLowerCase()])).toEqual(["build.finished", "build.finished", "build.finished"]);
    expect(events.map((event) => event.attempt)).toEqual([1, 2, 3]);
    expect(events[2]!.build).toEqual(final satisfies Build);
    expect(events[2]!.build).toMatchObject({ id, state: "succeeded", digest: expect.stringMatching(/^sha256:/), notify_url: flaky.url("/flaky") });
    // The retries waited, as the backoff says: 1 s, then 3 s.
    expect(requests[1]!.receivedAt - requests[0]!.receivedAt).toBeGreaterThanOrEqual(900);
    expect(requests[2]!.receivedAt - requests[1]!.receivedAt).toBeGreaterThanOrEqual(2900);

    await poll("the delivery to be recorded as delivered", async () => ((await deliveries(id))[0]?.state === "delivered" ? true : undefined));
    const [delivery] = await deliveries(id);
    expect(delivery).toMatchObject({ id: events[0]!.id, state: "delivered", next_attempt_at: null, url: flaky.url("/flaky") });
    expect(delivery!.attempts.map((attempt) => attempt.status_code)).toEqual([500, 500, 200]);
    expect(delivery!.attempts.map((attempt) => attempt.error)).toEqual(["the receiver answered HTTP 500", "the receiver answered HTTP 500", null]);
    // Delivered once: no attempt after the 200.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(flaky.received.filter((request) => request.status === 200)).toHaveLength(1);
    expect(flaky.received).toHaveLength(3);
  });

  it("a slow receiver delays neither the next build nor that build's webhook", async () => {
    const slow = await receiver(() => ({ status: 200, delayMs: 60_000 }));
    const fast = await receiver();
    const first = await build(slow.url("/slow"), "slow-hook");
    await stack.api.waitForBuild(first, (record) => record.state === "succeeded", { timeoutMs: 120_000 });
    const [held] = await slow.waitFor(1);

    // While the slow receiver holds its request, the next build runs and its webhook arrives.
    const submitted = Date.now();
    const second = await build(fast.url("/fast"), "fast-hook");
    const done = await stack.api.waitForBuild(second, (record) => record.state === "succeeded", { timeoutMs: 120_000 });
    const [delivered] = await fast.waitFor(1);
    expect(webhookEvent.parse(JSON.parse(delivered!.body)).build.id).toBe(done.id);
    expect(held!.answeredAt).toBeNull();
    expect(delivered!.receivedAt - submitted).toBeLessThan(30_000);

    // The slow one's attempt timed out (no answer within the timeout) and is retried, recorded as such.
    await poll("the slow attempt to time out", async () => ((await deliveries(first))[0]?.attempts.length ? true : undefined), { timeoutMs: 30_000 });
    const [slowDelivery] = await deliveries(first);
    expect(slowDelivery!.attempts[0]).toMatchObject({ attempt: 1, status_code: null, error: `no answer within ${TIMEOUT_SECONDS} s` });
    expect(slowDelivery!.attempts[0]!.duration_ms).toBeGreaterThanOrEqual(TIMEOUT_SECONDS * 1000 - 100);
    expect(slowDelivery!.state).toBe("pending");
  });

  it("refuses, without contacting it, a host that resolves to a private address", async () => {
    // No agent has this label: the build waits, and is canceled, which ends it at once.
    const accepted = ok(
      await stack.api.submitSeedBuild({
        query: { user_name: stack.secrets.registryUser, repo: "private-hook", registry: stack.registry.host, labels: "never=here", notify_url: "https://private.test/hook" },
        dockerfile: `FROM ${stack.baseImage}\n`,
      }),
    );
    ok(await stack.api.cancel(accepted.task_id), 200);
    await poll("the delivery to fail", async () => ((await deliveries(accepted.task_id))[0]?.state === "failed" ? true : undefined));
    const [delivery] = await deliveries(accepted.task_id);
    expect(delivery!.attempts).toHaveLength(1);
    expect(delivery!.attempts[0]!.error).toMatch(/refused: notify_url .*private\.test \(10\.0\.0\.7\).*public addresses only/);
    expect(doh.asked).toContain("private.test");
  });
});
