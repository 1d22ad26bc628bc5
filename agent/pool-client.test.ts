/**
 * The pool client and its socket against a real WebSocket server standing in for
 * the pool: hello, heartbeats, slots, cancel, reconnects and refusals. Jobs
 * are fakes that finish when the test says so.
 */
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocketServer, type WebSocket } from "ws";
import { CLOSE, type AgentMessage, assignMessage, type Assignment, type JobOutcome, type PoolMessage } from "../shared/protocol";
import { PoolClient, REFUSAL, type PoolClientEvents, type PoolClientOptions, type RunJob } from "./pool-client";

const TOKEN = "agent-token";
const FAST_BACKOFF = { initialMs: 20, factor: 2, maxMs: 300, jitter: 0 };
const HEARTBEAT_MS = 50;

/** A pool that records what agents send and lets the test answer. */
class FakePool {
  readonly server: WebSocketServer;
  readonly received: AgentMessage[] = [];
  readonly connections: WebSocket[] = [];
  readonly authorizations: Array<string | undefined> = [];
  #waiters: Array<() => void> = [];

  constructor(options: { refuseUpgrade?: boolean } = {}) {
    this.server = new WebSocketServer({
      host: "127.0.0.1",
      port: 0,
      verifyClient: (info, done) => (options.refuseUpgrade ? done(false, 401) : done(true)),
    });
    this.server.on("connection", (ws, request) => {
      this.connections.push(ws);
      this.authorizations.push(request.headers.authorization);
      ws.on("message", (data) => {
        this.received.push(JSON.parse(data.toString()) as AgentMessage);
        this.#notify();
      });
      this.#notify();
    });
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}/agent/connect`;
  }

  get current(): WebSocket {
    const ws = this.connections.at(-1);
    if (!ws) throw new Error("no agent connected");
    return ws;
  }

  send(message: PoolMessage): void {
    this.current.send(JSON.stringify(message));
  }

  welcome(): void {
    this.send({ type: "welcome", agentId: "agent-1", heartbeatMs: HEARTBEAT_MS, leaseMs: 10_000 });
  }

  /** Waits until `check` holds, re-checking on every frame and connection. */
  async until<T>(check: () => T | undefined | false, timeoutMs = 3_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = check();
      if (value) return value;
      if (Date.now() > deadline) throw new Error("timed out waiting for the agent");
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 25);
      });
    }
  }

  frames<T extends AgentMessage["type"]>(type: T): Array<Extract<AgentMessage, { type: T }>> {
    return this.received.filter((frame): frame is Extract<AgentMessage, { type: T }> => frame.type === type);
  }

  async close(): Promise<void> {
    for (const ws of this.connections) ws.terminate();
    await new Promise((resolve) => this.server.close(resolve));
  }

  #notify(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }
}

/** Fake jobs: each assignment waits until the test finishes it, or until canceled. */
function fakeJobs() {
  const finishers = new Map<string, (outcome: JobOutcome) => void>();
  const runJob: RunJob = (assignment, { send, signal }) =>
    new Promise<JobOutcome>((resolve) => {
      const { jobId, attempt } = assignment;
      send({ type: "phase", jobId, attempt, phase: "building" });
      const finish = (outcome: JobOutcome) => {
        send({ type: "result", jobId, attempt, outcome });
        resolve(outcome);
      };
      finishers.set(jobId, finish);
      signal.addEventListener("abort", () => finish({ status: "canceled" }));
    });
  return { runJob, finish: (jobId: string, outcome: JobOutcome) => finishers.get(jobId)?.(outcome) };
}

function assignment(attempt = 1, jobId: string = crypto.randomUUID()): Assignment {
  return assignMessage.parse({
    type: "assign",
    jobId,
    attempt,
    leaseToken: `lease-${jobId}`,
    contextPath: `/agent/jobs/${jobId}/context`,
    image: { reference: "127.0.0.1:5000/a/b:v1", registry: "127.0.0.1:5000", path: "a/b", tag: "v1" },
  });
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function startAgent(pool: FakePool, runJob: RunJob, concurrency = 1, engine?: PoolClientOptions["engine"], events?: Partial<PoolClientEvents>) {
  const statusLines: string[] = [];
  const client = new PoolClient({
    config: { connectUrl: pool.url, token: TOKEN, name: "test-agent", version: "0.0.0", concurrency, labels: { arch: "amd64" } },
    engine,
    runJob,
    status: (line) => statusLines.push(line),
    backoff: FAST_BACKOFF,
    events,
  });
  client.start();
  cleanups.push(() => client.stop());
  return { client, statusLines };
}

async function startPool(options?: { refuseUpgrade?: boolean }): Promise<FakePool> {
  const pool = new FakePool(options);
  cleanups.push(() => pool.close());
  await new Promise((resolve) => pool.server.once("listening", resolve));
  return pool;
}

describe("PoolClient", () => {
  it("says hello with its token first, then heartbeats at the interval the pool dictates", async () => {
    const pool = await startPool();
    startAgent(pool, fakeJobs().runJob);
    await pool.until(() => pool.received.length > 0);
    expect(pool.authorizations[0]).toBe(`Bearer ${TOKEN}`);
    expect(pool.received[0]).toEqual({
      type: "hello",
      name: "test-agent",
      version: "0.0.0",
      concurrency: 1,
      labels: { arch: "amd64" },
      holding: [],
      // What it understands: a pool gives builds that use options only to an agent that says this.
      capabilities: ["build-options"],
    });
    expect(pool.frames("heartbeat")).toEqual([]);
    pool.welcome();
    await pool.until(() => pool.frames("heartbeat").length >= 2);
    expect(pool.frames("heartbeat")[0]).toEqual({ type: "heartbeat", holding: [] });
  });

  it("announces its Engine's platform and its builder in hello", async () => {
    const pool = await startPool();
    startAgent(pool, fakeJobs().runJob, 2, { platform: { os: "linux", architecture: "arm64" }, builder: "buildkit" });
    await pool.until(() => pool.received.length > 0);
    expect(pool.received[0]).toMatchObject({ type: "hello", concurrency: 2, platform: { os: "linux", architecture: "arm64" }, builder: "buildkit" });
  });

  it("runs an assignment, claims it in heartbeats while it runs, and reports its result", async () => {
    const pool = await startPool();
    const jobs = fakeJobs();
    startAgent(pool, jobs.runJob);
    await pool.until(() => pool.frames("hello").length);
    pool.welcome();
    const job = assignment();
    pool.send(job);
    await pool.until(() => pool.frames("phase").length);
    await pool.until(() => pool.frames("heartbeat").some((beat) => beat.holding.length === 1));
    expect(pool.frames("heartbeat").at(-1)?.holding).toEqual([{ jobId: job.jobId, attempt: 1, leaseToken: job.leaseToken }]);

    jobs.finish(job.jobId, { status: "failed", step: "build", error: "boom" });
    await pool.until(() => pool.frames("result").length);
    const beatsBefore = pool.frames("heartbeat").length;
    await pool.until(() => pool.frames("heartbeat").length > beatsBefore + 1);
    expect(pool.frames("heartbeat").at(-1)?.holding).toEqual([]);
  });

  it("takes no more jobs than its slots, and no attempt it already runs", async () => {
    const pool = await startPool();
    const jobs = fakeJobs();
    const { statusLines } = startAgent(pool, jobs.runJob, 1);
    await pool.until(() => pool.frames("hello").length);
    const first = assignment();
    pool.send(first);
    pool.send(assignment());
    pool.send(first);
    await pool.until(() => statusLines.filter((line) => line.includes("not taken")).length === 2);
    expect(statusLines.some((line) => line.endsWith(REFUSAL.full))).toBe(true);
    expect(statusLines.some((line) => line.endsWith(REFUSAL.duplicate))).toBe(true);
    expect(pool.frames("phase")).toHaveLength(1);
  });

  it("replaces a stale attempt of the same job with the newer one", async () => {
    const pool = await startPool();
    const jobs = fakeJobs();
    startAgent(pool, jobs.runJob, 1);
    await pool.until(() => pool.frames("hello").length);
    const old = assignment(1);
    pool.send(old);
    await pool.until(() => pool.frames("phase").length === 1);
    pool.send(assignment(2, old.jobId));
    await pool.until(() => pool.frames("phase").length === 2);
    expect(pool.frames("result")).toEqual([{ type: "result", jobId: old.jobId, attempt: 1, outcome: { status: "canceled" } }]);
    expect(pool.frames("phase")[1]).toMatchObject({ jobId: old.jobId, attempt: 2 });
  });

  it("cancels the run of the attempt the pool names, and only that one", async () => {
    const pool = await startPool();
    const jobs = fakeJobs();
    startAgent(pool, jobs.runJob, 2);
    await pool.until(() => pool.frames("hello").length);
    const [a, b] = [assignment(), assignment()];
    pool.send(a);
    pool.send(b);
    await pool.until(() => pool.frames("phase").length === 2);
    pool.send({ type: "cancel", jobId: a.jobId, attempt: 2, reason: "wrong attempt" });
    pool.send({ type: "cancel", jobId: a.jobId, attempt: 1, reason: "user asked" });
    await pool.until(() => pool.frames("result").length);
    expect(pool.frames("result")).toEqual([{ type: "result", jobId: a.jobId, attempt: 1, outcome: { status: "canceled" } }]);
  });

  it("sends again a result that no pong confirmed before the connection died, claiming its job in the next hello", async () => {
    const pool = await startPool();
    const jobs = fakeJobs();
    const { statusLines } = startAgent(pool, jobs.runJob);
    await pool.until(() => pool.frames("hello").length);
    const job = assignment();
    pool.send(job);
    await pool.until(() => pool.frames("phase").length);

    pool.current.terminate();
    jobs.finish(job.jobId, { status: "canceled" });
    await pool.until(() => pool.frames("hello").length === 2);
    await pool.until(() => pool.frames("result").length);
    const afterReconnect = pool.received.slice(pool.received.indexOf(pool.frames("hello")[1]!));
    expect(afterReconnect.map((frame) => frame.type)).toEqual(["hello", "result"]);
    expect(pool.frames("hello")[1]?.holding).toEqual([{ jobId: job.jobId, attempt: 1, leaseToken: job.leaseToken }]);
    expect(statusLines.some((line) => line.startsWith("disconnected from the pool"))).toBe(true);
  });

  it("does not send again a result the pool's pong confirmed", async () => {
    const pool = await startPool();
    const jobs = fakeJobs();
    startAgent(pool, jobs.runJob);
    await pool.until(() => pool.frames("hello").length);
    const job = assignment();
    pool.send(job);
    await pool.until(() => pool.frames("phase").length);
    const ponged = new Promise((resolve) => pool.current.once("ping", resolve));
    jobs.finish(job.jobId, { status: "canceled" });
    await ponged;
    // Let the pong travel back before the connection goes.
    await new Promise((resolve) => setTimeout(resolve, 50));

    pool.current.terminate();
    await pool.until(() => pool.frames("hello").length === 2);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(pool.frames("hello")[1]?.holding).toEqual([]);
    expect(pool.frames("result")).toHaveLength(1);
  });

  it("waits the longest delay, and says why, when the pool refuses the token with 4401", async () => {
    const pool = await startPool();
    const { statusLines } = startAgent(pool, fakeJobs().runJob);
    await pool.until(() => pool.frames("hello").length);
    const closedAt = Date.now();
    pool.current.close(CLOSE.unauthorized, "unauthorized");
    await pool.until(() => pool.frames("hello").length === 2);
    expect(Date.now() - closedAt).toBeGreaterThanOrEqual(FAST_BACKOFF.maxMs - 20);
    expect(statusLines.find((line) => line.includes("refused the agent token"))).toContain("reconnecting in 0.3s");
  });

  it("waits the longest delay, and says why, when the pool closes it for its frame budget (4429)", async () => {
    const pool = await startPool();
    const { statusLines } = startAgent(pool, fakeJobs().runJob);
    await pool.until(() => pool.frames("hello").length);
    const closedAt = Date.now();
    pool.current.close(CLOSE.frameBudget, "frame budget: heartbeats faster than the interval the pool set");
    await pool.until(() => pool.frames("hello").length === 2);
    expect(Date.now() - closedAt).toBeGreaterThanOrEqual(FAST_BACKOFF.maxMs - 20);
    expect(statusLines.find((line) => line.includes("more frames than the protocol's budget allows"))).toContain("reconnecting in 0.3s");
  });

  it("treats an HTTP 401 at the upgrade as the same refusal, and keeps trying", async () => {
    const pool = await startPool({ refuseUpgrade: true });
    const { statusLines } = startAgent(pool, fakeJobs().runJob);
    await pool.until(() => statusLines.filter((line) => line.includes("refused the agent token")).length >= 2, 2_000);
  });

  it("drains: tells the pool, refuses new work, and resolves once running jobs finish or the time is up", async () => {
    const pool = await startPool();
    const jobs = fakeJobs();
    const { client, statusLines } = startAgent(pool, jobs.runJob, 2);
    await pool.until(() => pool.frames("hello").length);
    const job = assignment();
    pool.send(job);
    await pool.until(() => pool.frames("phase").length);

    expect(await client.drain(50)).toBe(false);
    await pool.until(() => pool.frames("draining").length);
    const refused = assignment();
    pool.send(refused);
    await pool.until(() => statusLines.some((line) => line.endsWith(REFUSAL.draining)));
    await pool.until(() => pool.frames("refused").length);
    expect(pool.frames("refused")[0]).toEqual({ type: "refused", jobId: refused.jobId, attempt: refused.attempt, reason: REFUSAL.draining });

    const drained = client.drain(5_000);
    jobs.finish(job.jobId, { status: "canceled" });
    expect(await drained).toBe(true);
    expect(client.running).toBe(0);
  });

  it("says it is draining in the hello of a reconnect, before the pool could assign it anything", async () => {
    const pool = await startPool();
    const jobs = fakeJobs();
    const { client } = startAgent(pool, jobs.runJob);
    await pool.until(() => pool.frames("hello").length);
    pool.welcome();
    const job = assignment();
    pool.send(job);
    await pool.until(() => pool.frames("phase").length);
    const drained = client.drain(5_000);
    await pool.until(() => pool.frames("draining").length);

    pool.current.terminate();
    await pool.until(() => pool.frames("hello").length === 2);
    expect(pool.frames("hello")[0]?.draining).toBeUndefined();
    expect(pool.frames("hello")[1]).toMatchObject({ draining: true, holding: [{ jobId: job.jobId, attempt: 1 }] });
    jobs.finish(job.jobId, { status: "canceled" });
    expect(await drained).toBe(true);
  });

  it("waits the longest delay, and prints the pool's reason, when its version is refused (4426)", async () => {
    const pool = await startPool();
    const { statusLines } = startAgent(pool, fakeJobs().runJob);
    await pool.until(() => pool.frames("hello").length);
    const closedAt = Date.now();
    const reason = 'agent version "0.0.0" is older than 0.2.0, this Worker\'s minimum: upgrade the agent';
    pool.current.close(CLOSE.outdatedAgent, reason);
    await pool.until(() => pool.frames("hello").length === 2);
    expect(Date.now() - closedAt).toBeGreaterThanOrEqual(FAST_BACKOFF.maxMs - 20);
    expect(statusLines.find((line) => line.includes("refused this agent's version"))).toBe(
      `disconnected from the pool (the pool refused this agent's version: ${reason}); reconnecting in 0.3s`,
    );
  });

  it("pauses: tells the pool why, refuses what was already on its way, says it in the hello after a reconnect, and resumes", async () => {
    const pool = await startPool();
    const jobs = fakeJobs();
    const { client, statusLines } = startAgent(pool, jobs.runJob, 2);
    await pool.until(() => pool.frames("hello").length);
    pool.welcome();
    client.pause("low-disk", "1 GiB free");
    expect(client.paused).toBe(true);
    await pool.until(() => pool.frames("paused").length);
    expect(pool.frames("paused")[0]).toEqual({ type: "paused", cause: "low-disk", detail: "1 GiB free" });

    const refused = assignment();
    pool.send(refused);
    await pool.until(() => pool.frames("refused").length);
    expect(pool.frames("refused")[0]).toEqual({ type: "refused", jobId: refused.jobId, attempt: 1, reason: `${REFUSAL.paused}: low disk` });
    expect(statusLines.some((line) => line.endsWith(`${REFUSAL.paused}: low disk`))).toBe(true);

    pool.current.terminate();
    await pool.until(() => pool.frames("hello").length === 2);
    expect(pool.frames("hello")[1]?.paused).toEqual({ cause: "low-disk", detail: "1 GiB free" });
    expect(pool.frames("hello")[0]?.paused).toBeUndefined();
    pool.welcome();

    client.resume();
    await pool.until(() => pool.frames("resumed").length);
    expect(client.paused).toBe(false);
    client.resume();
    const taken = assignment();
    pool.send(taken);
    await pool.until(() => pool.frames("phase").length);
    expect(pool.frames("resumed")).toHaveLength(1);
    expect(pool.frames("phase")[0]?.jobId).toBe(taken.jobId);
  });

  it("tells its observer when it is registered, disconnected, and how each job ended and how long it took", async () => {
    const pool = await startPool();
    const jobs = fakeJobs();
    const seen: string[] = [];
    startAgent(pool, jobs.runJob, 1, undefined, {
      registered: () => seen.push("registered"),
      disconnected: () => seen.push("disconnected"),
      jobFinished: (outcome, durationMs) => seen.push(`${outcome.status} ${durationMs >= 0}`),
    });
    await pool.until(() => pool.frames("hello").length);
    pool.welcome();
    const job = assignment();
    pool.send(job);
    await pool.until(() => pool.frames("phase").length);
    jobs.finish(job.jobId, { status: "canceled" });
    await pool.until(() => seen.includes("canceled true"));
    pool.current.terminate();
    await pool.until(() => seen.includes("disconnected"));
    expect(seen).toEqual(["registered", "canceled true", "disconnected"]);
  });
});
