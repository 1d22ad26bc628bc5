/**
 * Who builds what, through real parts: labels route a build to the agent
 * that has them (and a build no agent can take says why it waits), retries
 * with an Idempotency-Key build once, tenants see only their own builds, and
 * a tenant past its queue limit gets a 429.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ok } from "../../harness/api";
import { startStack, type Stack } from "../../harness/stack";

const BOB_TOKEN = "bob-e2e-token-0123456789";
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ agents: 0, tenants: { bob: BOB_TOKEN }, vars: { DOCKIFY_TENANT_MAX_QUEUED: "2" } });
});

afterAll(async () => {
  await stack?.stop();
});

function submit(tag: string, options: { labels?: string; headers?: Record<string, string>; token?: string } = {}) {
  const query = { user_name: stack.secrets.registryUser, repo: "routing", tag, registry: stack.registry.host, labels: options.labels };
  return stack.api.withToken(options.token ?? stack.secrets.apiToken).submitSeedBuild({
    query,
    fields: { password: stack.secrets.registryPassword },
    dockerfile: `FROM ${stack.baseImage}\nRUN echo ${tag} > /tag.txt\n`,
    headers: options.headers,
  });
}

function finished(id: string) {
  return stack.api.waitForStatus(id);
}

describe("routing, retries and tenants end to end", () => {
  it("sends a labelled build only to the agent with those labels, saying why it waits until one connects", async () => {
    const plain = stack.startAgent({ name: "plain" });
    await plain.waitForLine(/registered as agent/);
    const { task_id: id } = ok(await submit("arm", { labels: "arch=arm64" }));
    const waiting = await stack.api.status(id);
    expect(waiting.body).toEqual({ status: "processing", waiting: "no connected build agent of pool 'default' has the labels arch=arm64" });
    stack.startAgent({ name: "arm-builder", labels: { arch: "arm64" } });
    expect(await finished(id)).toMatchObject({ status: "success" });
    const log = await stack.api.log(id);
    expect(log).toContain("assigned to agent arm-builder");
    expect(plain.output()).not.toContain(id);
  });

  it("builds once when a client retries with the same Idempotency-Key", async () => {
    const headers = { "Idempotency-Key": "retry-e2e-1" };
    const first = ok(await submit("retried", { headers }));
    const second = ok(await submit("retried", { headers }));
    expect(second.task_id).toBe(first.task_id);
    expect(await finished(first.task_id)).toMatchObject({ status: "success" });
  });

  it("shows a build to its own tenant only", async () => {
    const { task_id: id } = ok(await submit("private"));
    const bob = stack.api.withToken(BOB_TOKEN);
    const asBob = await bob.status(id);
    expect(asBob.status).toBe(404);
    expect(ok(await bob.list()).builds).toEqual([]);
    expect(await finished(id)).toMatchObject({ status: "success" });
  });

  it("refuses a tenant's third queued build with a 429 while no agent can take them", async () => {
    const gpu = { labels: "gpu=true", token: BOB_TOKEN };
    expect((await submit("q1", gpu)).status).toBe(200);
    expect((await submit("q2", gpu)).status).toBe(200);
    const third = await submit("q3", gpu);
    expect(third.status).toBe(429);
    expect(third.body).toMatchObject({ field: "tenant", error: expect.stringMatching(/DOCKIFY_TENANT_MAX_QUEUED/) });
  });
});
