/** The frame budget inside workerd: a flooding socket is closed with its reason; an honest agent next to it is not touched. */
import { env, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import type { SeedAccepted, SeedStatus } from "../../shared/api";
import { CLOSE, type AgentMessage } from "../../shared/protocol";
import { OVER_BUDGET } from "../../worker/pool/frame-budget";
import { DEFAULT_POOL, poolStub } from "../../worker/pool/stub";
import { TestAgent } from "./agent-socket";
import { ALICE, call, submit } from "./helpers";

beforeEach(async () => {
  await runInDurableObject(poolStub(env, DEFAULT_POOL), (_pool, state) => {
    for (const ws of state.getWebSockets()) ws.close(1000, "next test");
    state.storage.sql.exec("DELETE FROM agents");
    state.storage.sql.exec("UPDATE jobs SET state = 'canceled', step = 'canceled', finished_at = ? WHERE state = 'queued'", Date.now());
  });
});

async function rogue(): Promise<TestAgent> {
  const agent = await TestAgent.connect();
  if (!(agent instanceof TestAgent)) throw new Error("no socket");
  return agent;
}

const hello: AgentMessage = { type: "hello", name: "rogue", version: "x", concurrency: 1, labels: {}, holding: [] };

describe("frame budget", () => {
  it("closes a socket that says hello twice, with the reason", async () => {
    const agent = await rogue();
    for (let frame = 0; frame < 200; frame++) agent.send(hello);
    expect(await agent.waitClosed(5_000)).toEqual({ code: CLOSE.frameBudget, reason: OVER_BUDGET.secondHello });
  });

  it("closes a socket flooding heartbeats or log batches, while an honest agent beside it builds on", async () => {
    const honest = await TestAgent.hello("honest");
    const heartbeats = await rogue();
    heartbeats.send(hello);
    await heartbeats.next("welcome");
    for (let frame = 0; frame < 200; frame++) heartbeats.send({ type: "heartbeat", holding: [] });
    const logs = await rogue();
    logs.send(hello);
    await logs.next("welcome");
    for (let frame = 0; frame < 1_000; frame++) logs.send({ type: "log", jobId: crypto.randomUUID(), attempt: 1, entries: ["flood"] });

    expect(await heartbeats.waitClosed(5_000)).toEqual({ code: CLOSE.frameBudget, reason: OVER_BUDGET.heartbeats });
    expect(await logs.waitClosed(5_000)).toEqual({ code: CLOSE.frameBudget, reason: OVER_BUDGET.reports });

    // The honest agent is still registered: its heartbeat is taken and a new build goes to it.
    honest.send({ type: "heartbeat", holding: [] });
    const response = await submit();
    const { task_id: id } = await response.json<SeedAccepted>();
    const assign = await honest.next("assign");
    expect(assign.jobId).toBe(id);
    honest.send({ type: "result", jobId: id, attempt: assign.attempt, outcome: { status: "canceled" } });
    const deadline = Date.now() + 2_000;
    let status: SeedStatus = { status: "processing" };
    while (status.status === "processing" && Date.now() < deadline) {
      status = await (await call(`/status/${id}`, { headers: { Authorization: ALICE } })).json<SeedStatus>();
    }
    expect(status).toMatchObject({ status: "failed", step: "canceled" });
    expect(honest.closed).toBeNull();
    honest.ws.close();
  });
});
