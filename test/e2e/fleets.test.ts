/**
 * Fleets that belong to tenants, through real parts: alice has a pool of her
 * own (DOCKIFY_POOLS) with her own agent token, which alone is granted the
 * label tenant=alice. The stack's tenant (here: bob's side) shares the default
 * pool. Bob's build cannot land on alice's agent: asking for her label is
 * refused at submission, and a plain build waits in bob's pool, saying so,
 * while only alice's agent is connected. Both tenants' honest builds build
 * and push.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ok } from "../../harness/api";
import { pullImage, removeImage, runAndCapture } from "../../harness/docker";
import type { AgentProcess } from "../../harness/agent";
import { startStack, type Stack } from "../../harness/stack";

const ALICE_TOKEN = "alice-e2e-api-token-0123456789";
const ALICE_AGENT_TOKEN = "alice-e2e-agent-token-0123456789";

let stack: Stack;
let aliceAgent: AgentProcess;

beforeAll(async () => {
  stack = await startStack({
    agents: 0,
    tenants: { alice: ALICE_TOKEN },
    agentTokens: { "alice-fleet": ALICE_AGENT_TOKEN },
    vars: {
      DOCKIFY_AGENT_TOKEN_LABELS: JSON.stringify({ "alice-fleet": { tenant: "alice" } }),
      DOCKIFY_POOLS: JSON.stringify({ alice: { agents: ["alice-fleet"], tenants: ["alice"] } }),
    },
  });
  aliceAgent = stack.startAgent({ name: "alice-builder", token: ALICE_AGENT_TOKEN, labels: { tenant: "alice" } });
  await aliceAgent.waitForLine(/registered as agent/, { timeoutMs: 30_000 });
});

afterAll(async () => {
  await stack?.stop();
});

function submit(tag: string, options: { token?: string; labels?: string } = {}) {
  const query = { user_name: stack.secrets.registryUser, repo: "fleets", tag, registry: stack.registry.host, labels: options.labels };
  return stack.api.withToken(options.token ?? stack.secrets.apiToken).submitSeedBuild({
    query,
    fields: { password: stack.secrets.registryPassword },
    dockerfile: `FROM ${stack.baseImage}\nRUN echo ${tag} > /tag.txt\n`,
  });
}

async function expectPushed(tag: string): Promise<void> {
  const reference = `${stack.registry.host}/${stack.secrets.registryUser}/fleets:${tag}`;
  await removeImage(reference);
  await pullImage(reference, { username: stack.secrets.registryUser, password: stack.secrets.registryPassword });
  expect(await runAndCapture(reference, ["cat", "/tag.txt"])).toBe(`${tag}\n`);
  await removeImage(reference);
}

describe("fleets that belong to tenants, end to end", () => {
  it("builds alice's build on alice's own agent and pushes it", async () => {
    const { task_id: id } = ok(await submit("alice-own", { token: ALICE_TOKEN, labels: "tenant=alice" }));
    expect(await stack.api.withToken(ALICE_TOKEN).waitForStatus(id)).toMatchObject({ status: "success" });
    expect(await stack.api.withToken(ALICE_TOKEN).log(id)).toContain("assigned to agent alice-builder");
    await expectPushed("alice-own");
  });

  it("refuses another tenant's build that asks for alice's label, naming it and what may be asked for, storing nothing", async () => {
    const refused = await submit("bob-sneaks", { labels: "tenant=alice" });
    expect(refused.status).toBe(403);
    expect(refused.body).toEqual({
      field: "labels",
      error:
        "label tenant=alice is reserved to build agents outside your pool 'default'; " +
        "you may ask for no reserved label; any label whose name is not reserved (tenant) is yours to use",
    });
    expect(ok(await stack.api.list()).builds).toEqual([]);
  });

  it("keeps another tenant's plain build waiting in its own pool while only alice's agent is connected, then builds it on its own", async () => {
    const { task_id: id } = ok(await submit("bob-waits"));
    const waiting = await stack.api.waitForStatus(id, { until: (status) => status.status === "processing" && "waiting" in status });
    expect(waiting).toEqual({ status: "processing", waiting: "no build agent is connected to pool 'default'" });
    // Idle the whole time, and never offered the build.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect((await stack.api.build(id)).body).toMatchObject({ state: "queued", attempt: 0 });
    expect(aliceAgent.output()).not.toContain(id);

    const shared = stack.startAgent({ name: "shared-builder" });
    expect(await stack.api.waitForStatus(id)).toMatchObject({ status: "success" });
    expect(await stack.api.log(id)).toContain("assigned to agent shared-builder");
    expect(aliceAgent.output()).not.toContain(id);
    await expectPushed("bob-waits");
    await shared.stop();
  });

  it("answers alice's builds as unknown to the other tenant", async () => {
    const aliceBuilds = ok(await stack.api.withToken(ALICE_TOKEN).list()).builds;
    expect(aliceBuilds.length).toBeGreaterThan(0);
    for (const build of aliceBuilds) expect((await stack.api.build(build.id)).status).toBe(404);
    expect(ok(await stack.api.list()).builds.map((build) => build.id)).not.toContain(aliceBuilds[0]!.id);
  });
});
