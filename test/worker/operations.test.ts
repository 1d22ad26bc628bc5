/**
 * What operators of agents meet in the Worker: the agent ping `dockify-agent
 * doctor` asks (it checks the token, version and labels and never reaches a
 * pool), `GET /v1/agents` with each agent's version and state, a paused agent
 * (low disk) and why builds wait for it, and DOCKIFY_MIN_AGENT_VERSION.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import type { AgentList, Build, ErrorBody, SeedAccepted, SeedStatus } from "../../shared/api";
import { AGENT_PING_PATH, CLOSE, type AgentMessage, type AgentPing } from "../../shared/protocol";
import app from "../../worker/index";
import { Pool } from "../../worker/pool/pool";
import { DEFAULT_POOL, poolStub } from "../../worker/pool/stub";
import { TestAgent } from "./agent-socket";
import { AGENT, ALICE, BASE, call, submit } from "./helpers";

const GPU_AGENT = "Bearer gpu-token";

beforeEach(async () => {
  await runInDurableObject(poolStub(env, DEFAULT_POOL), (_pool, state) => {
    for (const ws of state.getWebSockets()) ws.close(1000, "next test");
    state.storage.sql.exec("DELETE FROM agents");
    state.storage.sql.exec("UPDATE jobs SET state = 'canceled', step = 'canceled', finished_at = ? WHERE state = 'queued'", Date.now());
  });
});

function ping(query = "", auth = AGENT, vars: Record<string, string> = {}): Promise<Response> {
  return Promise.resolve(app.request(`${BASE}${AGENT_PING_PATH}${query}`, { headers: { Authorization: auth } }, { ...env, ...vars }));
}

async function agents(): Promise<AgentList> {
  const response = await call("/v1/agents", { headers: { Authorization: ALICE } });
  expect(response.status).toBe(200);
  return response.json<AgentList>();
}

async function queuedBuild(): Promise<string> {
  const response = await submit({ files: [{ name: "app.sh", content: "echo hi\n" }] });
  expect(response.status).toBe(200);
  return (await response.json<SeedAccepted>()).task_id;
}

async function record(id: string): Promise<Build> {
  return (await call(`/v1/builds/${id}`, { headers: { Authorization: ALICE } })).json<Build>();
}

describe("the agent ping", () => {
  it("answers an agent token with its pool, and refuses anything else", async () => {
    const response = await ping();
    expect(response.status).toBe(200);
    expect(await response.json<AgentPing>()).toEqual({ pool: DEFAULT_POOL, min_agent_version: null });
    for (const auth of [ALICE, "Bearer nope"]) expect((await ping("", auth)).status).toBe(401);
  });

  it("says which labels the pool would refuse, as the pool says it", async () => {
    expect((await ping("?labels=gpu=true", GPU_AGENT)).status).toBe(200);
    const refused = await ping("?labels=gpu=true");
    expect(refused.status).toBe(403);
    expect(await refused.json<ErrorBody>()).toMatchObject({ field: "labels", error: expect.stringContaining("gpu") });
    const malformed = await ping("?labels=gpu");
    expect(malformed.status).toBe(400);
    expect(await malformed.json<ErrorBody>()).toMatchObject({ field: "labels" });
  });

  it("checks the version against DOCKIFY_MIN_AGENT_VERSION", async () => {
    const vars = { DOCKIFY_MIN_AGENT_VERSION: "0.2.0" };
    const old = await ping("?version=0.1.9", AGENT, vars);
    expect(old.status).toBe(426);
    expect(await old.json<ErrorBody>()).toEqual({ field: "version", error: 'agent version "0.1.9" is older than 0.2.0, this Worker\'s minimum: upgrade the agent' });
    const current = await ping("?version=0.2.0", AGENT, vars);
    expect(current.status).toBe(200);
    expect(await current.json<AgentPing>()).toEqual({ pool: DEFAULT_POOL, min_agent_version: "0.2.0" });
  });

  it("answers 503 naming a minimum that is not a version", async () => {
    const response = await ping("?version=0.1.0", AGENT, { DOCKIFY_MIN_AGENT_VERSION: "two" });
    expect(response.status).toBe(503);
    expect(await response.json<ErrorBody>()).toEqual({
      field: "DOCKIFY_MIN_AGENT_VERSION",
      error: 'the server is not configured: DOCKIFY_MIN_AGENT_VERSION must be a version such as 0.2.0 (got "two")',
    });
  });

  it("never connects the agent, so no build can go to it", async () => {
    const id = await queuedBuild();
    expect((await ping("?version=9.9.9")).status).toBe(200);
    expect((await agents()).agents).toEqual([]);
    expect(await record(id)).toMatchObject({ state: "queued", waiting: "no build agent is connected to pool 'default'" });
  });
});

describe("agents of the pool", () => {
  it("lists the connected agents with the version each reported", async () => {
    const agent = await TestAgent.connect();
    if (!(agent instanceof TestAgent)) throw new Error("no socket");
    agent.send({ type: "hello", name: "builder-1", version: "0.3.1", concurrency: 2, labels: { arch: "amd64" }, holding: [] });
    await agent.next("welcome");
    const list = await agents();
    expect(list).toEqual({
      pool: DEFAULT_POOL,
      agents: [
        {
          name: "builder-1",
          version: "0.3.1",
          labels: { arch: "amd64" },
          slots: 2,
          running: 0,
          builds: [],
          state: "ready",
          paused_reason: null,
          // Its hello said neither: an agent from before platforms were announced.
          platform: null,
          builder: null,
          connected_at: expect.any(String),
          last_heartbeat_at: expect.any(String),
        },
      ],
    });
    expect((await call("/v1/agents")).status).toBe(401);
  });

  it("gives a paused agent no builds and says why they wait, until it resumes", async () => {
    const agent = await TestAgent.hello("builder-1");
    const detail = "1.2 GiB free where the Engine keeps its data, below DOCKIFY_AGENT_STOP_BELOW (2 GiB)";
    agent.send({ type: "paused", cause: "low-disk", detail });
    // The pool handles an agent's frames in order: once the list shows it paused, the pause is recorded.
    await expect.poll(async () => (await agents()).agents[0]?.state).toBe("paused");
    expect((await agents()).agents[0]?.paused_reason).toBe(`low disk (${detail})`);

    const id = await queuedBuild();
    const waiting = `every agent that can build it is paused: low disk on builder-1 (${detail})`;
    expect(await record(id)).toMatchObject({ state: "queued", waiting });
    // The seed's status says it too: the build will not start before someone (or the disk) acts.
    expect(await (await call(`/status/${id}`, { headers: { Authorization: ALICE } })).json<SeedStatus>()).toEqual({ status: "processing", waiting });
    expect(agent.received.some((message) => message.type === "assign")).toBe(false);

    agent.send({ type: "resumed" });
    const assignment = await agent.next("assign");
    expect(assignment.jobId).toBe(id);
    expect((await agents()).agents[0]?.state).toBe("ready");
  });

  it("gives nothing to an agent whose hello says it is paused, not even the build already waiting", async () => {
    const id = await queuedBuild();
    const agent = await TestAgent.connect();
    if (!(agent instanceof TestAgent)) throw new Error("no socket");
    const paused = { cause: "low-disk", detail: "0 bytes free" } as const;
    agent.send({ type: "hello", name: "builder-1", version: "0.1.0", concurrency: 1, labels: {}, holding: [], paused });
    await agent.next("welcome");
    expect((await agents()).agents[0]).toMatchObject({ state: "paused", paused_reason: "low disk (0 bytes free)" });
    expect((await record(id)).waiting).toBe("every agent that can build it is paused: low disk on builder-1 (0 bytes free)");
    expect(agent.received.some((message) => message.type === "assign")).toBe(false);
  });

  it("says paused again after a reconnect only if the agent says so: a new connection starts ready", async () => {
    const first = await TestAgent.hello("builder-1");
    first.send({ type: "paused", cause: "low-disk", detail: "x" });
    await expect.poll(async () => (await agents()).agents[0]?.state).toBe("paused");
    first.ws.close(1000, "bye");
    await expect.poll(async () => (await agents()).agents.length).toBe(0);
    await TestAgent.hello("builder-1");
    expect((await agents()).agents[0]?.state).toBe("ready");
  });
});

describe("DOCKIFY_MIN_AGENT_VERSION", () => {
  /**
   * The test Worker's variables set no minimum, so the refusal is driven through a Pool built with one: the real
   * object's storage and the real socket, the hello handed to that Pool's hook as the runtime would hand it.
   */
  async function helloWithMinimum(version: string, minimum: string): Promise<TestAgent> {
    const agent = await TestAgent.connect();
    if (!(agent instanceof TestAgent)) throw new Error("no socket");
    const hello: AgentMessage = { type: "hello", name: "old-agent", version, concurrency: 1, labels: {}, holding: [] };
    await runInDurableObject(poolStub(env, DEFAULT_POOL), async (_pool, state) => {
      const pool = new Pool(state, { ...env, DOCKIFY_MIN_AGENT_VERSION: minimum });
      const [server] = state.getWebSockets();
      await pool.webSocketMessage(server!, JSON.stringify(hello));
    });
    return agent;
  }

  it("closes the socket of an older agent with 4426 and the reason, and does not register it", async () => {
    const agent = await helloWithMinimum("0.1.0", "0.2.0");
    expect(await agent.waitClosed()).toEqual({
      code: CLOSE.outdatedAgent,
      reason: 'agent version "0.1.0" is older than 0.2.0, this Worker\'s minimum: upgrade the agent',
    });
    expect((await agents()).agents).toEqual([]);
  });

  it("takes an agent at the minimum", async () => {
    const agent = await helloWithMinimum("0.2.0", "0.2.0");
    expect(await agent.next("welcome")).toMatchObject({ type: "welcome" });
    expect((await agents()).agents.map(({ name, version }) => ({ name, version }))).toEqual([{ name: "old-agent", version: "0.2.0" }]);
  });
});
