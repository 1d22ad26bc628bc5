/**
 * Pools inside workerd: dave has a pool of his own with one agent token
 * (vitest.config.ts), everyone else shares `default`. Each pool is its own
 * Durable Object; builds, agents and context downloads reach the right one.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import type { Build, BuildList, ErrorBody, SeedAccepted } from "../../shared/api";
import type { Labels } from "../../shared/labels";
import { CLOSE } from "../../shared/protocol";
import app from "../../worker/index";
import { DEFAULT_POOL, poolStub } from "../../worker/pool/stub";
import { TestAgent } from "./agent-socket";
import { ALICE, BASE, call, submit } from "./helpers";

const DAVE = "Bearer dave-token";
const DAVE_AGENT = "Bearer dave-agent-token";

beforeEach(async () => {
  for (const pool of [DEFAULT_POOL, "dave"]) {
    await runInDurableObject(poolStub(env, pool), (_pool, state) => {
      for (const ws of state.getWebSockets()) ws.close(1000, "next test");
      state.storage.sql.exec("DELETE FROM agents");
      state.storage.sql.exec("UPDATE jobs SET state = 'canceled', step = 'canceled', finished_at = ? WHERE state = 'queued'", Date.now());
    });
  }
});

async function agent(auth: string, name: string, labels: Labels = {}): Promise<TestAgent> {
  const connected = await TestAgent.connect(auth);
  if (!(connected instanceof TestAgent)) throw new Error(`connect failed: ${connected.status}`);
  connected.send({ type: "hello", name, version: "test", concurrency: 1, labels, holding: [] });
  await connected.next("welcome");
  return connected;
}

async function submitAs(auth: string, labels?: string): Promise<Response> {
  return submit({ query: { user_name: "dave", repo: "web", ...(labels ? { labels } : {}) } }, auth);
}

function record(id: string, auth: string): Promise<Response> {
  return call(`/v1/builds/${id}`, { headers: { Authorization: auth } });
}

async function jobIn(pool: string, id: string): Promise<boolean> {
  return runInDurableObject(poolStub(env, pool), (_pool, state) => state.storage.sql.exec("SELECT id FROM jobs WHERE id = ?", id).toArray().length > 0);
}

describe("pools", () => {
  it("keeps a tenant's build in its own pool: it waits there, naming the pool, while only other pools have agents", async () => {
    const shared = await agent("Bearer agent-token", "shared");
    const response = await submitAs(DAVE);
    expect(response.status).toBe(200);
    const { task_id: id } = await response.json<SeedAccepted>();
    expect(await jobIn("dave", id)).toBe(true);
    expect(await jobIn(DEFAULT_POOL, id)).toBe(false);
    const waiting = await (await record(id, DAVE)).json<Build>();
    expect(waiting).toMatchObject({ state: "queued", waiting: "no build agent is connected to pool 'dave'" });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(shared.received.filter((message) => message.type === "assign")).toEqual([]);

    const own = await agent(DAVE_AGENT, "dave-1", { tenant: "dave" });
    const assign = await own.next("assign");
    expect(assign.jobId).toBe(id);
    // The context comes through the agent token's pool: dave's agent gets it, the shared one cannot.
    const context = await call(assign.contextPath, { headers: { Authorization: DAVE_AGENT, "X-Dockify-Lease": assign.leaseToken } });
    expect(context.status).toBe(200);
    await context.arrayBuffer();
    const stranger = await call(assign.contextPath, { headers: { Authorization: "Bearer agent-token", "X-Dockify-Lease": assign.leaseToken } });
    expect(stranger.status).toBe(403);
    shared.ws.close();
    own.ws.close();
  });

  it("answers another pool's build as unknown: record, status, log, cancel and list", async () => {
    const { task_id: id } = await (await submitAs(DAVE)).json<SeedAccepted>();
    expect((await record(id, DAVE)).status).toBe(200);
    const unknown = await record(id, ALICE);
    expect(unknown.status).toBe(404);
    expect(await unknown.json<ErrorBody>()).toEqual({ error: `no build with id '${id}'`, field: "id" });
    expect((await call(`/status/${id}`, { headers: { Authorization: ALICE } })).status).toBe(404);
    expect((await call(`/v1/builds/${id}/logs`, { headers: { Authorization: ALICE } })).status).toBe(404);
    expect((await call(`/v1/builds/${id}/cancel`, { method: "POST", headers: { Authorization: ALICE } })).status).toBe(404);
    const aliceList = await (await call("/v1/builds?limit=100", { headers: { Authorization: ALICE } })).json<BuildList>();
    expect(aliceList.builds.map((build) => build.id)).not.toContain(id);
    const daveList = await (await call("/v1/builds", { headers: { Authorization: DAVE } })).json<BuildList>();
    expect(daveList.builds.map((build) => build.id)).toContain(id);
  });

  it("refuses at submission a label reserved to another pool's agents, naming it and what may be asked for, storing nothing", async () => {
    const stored = async () => (await env.BUCKET.list({ prefix: "contexts/" })).objects.length;
    const before = await stored();
    const refused = await submitAs(ALICE, "tenant=dave,arch=amd64");
    expect(refused.status).toBe(403);
    expect(await refused.json<ErrorBody>()).toEqual({
      field: "labels",
      error:
        "label tenant=dave is reserved to build agents outside your pool 'default'; " +
        "of the reserved labels you may ask for gpu=true; any label whose name is not reserved (gpu, tenant) is yours to use",
    });
    expect(await stored()).toBe(before);
    // dave may ask for his own agents' label.
    expect((await submitAs(DAVE, "tenant=dave")).status).toBe(200);
  });

  it("closes an agent that declares a label reserved to another token, in any pool", async () => {
    const impostor = await TestAgent.connect("Bearer agent-token");
    if (!(impostor instanceof TestAgent)) throw new Error("no socket");
    impostor.send({ type: "hello", name: "impostor", version: "test", concurrency: 1, labels: { tenant: "dave" }, holding: [] });
    const closed = await impostor.waitClosed();
    expect(closed.code).toBe(CLOSE.forbidden);
    expect(closed.reason).toMatch(/^label tenant=dave is not granted to agent token 'token-[0-9a-f]{8}'$/);
  });

  it("answers 503 naming DOCKIFY_POOLS on every authenticated route when it is wrong", async () => {
    const broken = { ...env, DOCKIFY_POOLS: JSON.stringify({ dave: { agents: ["dave-fleet"], tenants: ["daev"] } }) };
    for (const [path, auth] of [["/v1/builds", DAVE], ["/agent/connect", DAVE_AGENT], ["/status/5d0f3c36-0000-4000-8000-000000000000", ALICE]] as const) {
      const response = await app.request(`${BASE}${path}`, { headers: { Authorization: auth } }, broken);
      expect(response.status).toBe(503);
      expect(await response.json<ErrorBody>()).toEqual({
        error: "the server is not configured: DOCKIFY_POOLS.dave.tenants: 'daev' is not a name in DOCKIFY_API_TOKENS (name=token)",
        field: "DOCKIFY_POOLS",
      });
    }
  });
});
