/**
 * The platform routes inside workerd: /metrics (its token, Prometheus' text
 * format read by a parser, values that move as builds run), /v1/agents and
 * /v1/queue, notify_url on both submit routes with its refusals, and webhook
 * deliveries recorded with their attempts (a receiver that is not there:
 * attempts fail, are listed, and are retried; the end-to-end suite has real
 * receivers).
 */
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import type { AgentList, Build, DeliveryList, QueueSummary, SeedAccepted } from "../../shared/api";
import { PrometheusText } from "../../harness/prometheus";
import { DEFAULT_POOL, poolStub } from "../../worker/pool/stub";
import { TestAgent } from "./agent-socket";
import { ALICE, BOB, call, submit } from "./helpers";

const METRICS = "Bearer metrics-token";
const QUERY = { user_name: "alice", repo: "web", tag: "v1", registry: "127.0.0.1:5000" };

beforeEach(async () => {
  await runInDurableObject(poolStub(env, DEFAULT_POOL), (_pool, state) => {
    for (const ws of state.getWebSockets()) ws.close(1000, "next test");
    state.storage.sql.exec("DELETE FROM agents");
    state.storage.sql.exec("UPDATE jobs SET state = 'canceled', step = 'canceled', finished_at = ? WHERE state = 'queued'", Date.now());
  });
});

async function metrics(): Promise<PrometheusText> {
  const response = await call("/metrics", { headers: { Authorization: METRICS } });
  expect(response.status).toBe(200);
  expect(response.headers.get("Content-Type")).toBe("text/plain; version=0.0.4; charset=utf-8");
  return PrometheusText.parse(await response.text());
}

async function submitted(auth = ALICE, query: Record<string, string> = QUERY): Promise<string> {
  const response = await submit({ query }, auth);
  expect(response.status, await response.clone().text()).toBe(200);
  return (await response.json<SeedAccepted>()).task_id;
}

function get<T>(path: string, auth = ALICE): Promise<T> {
  return call(path, { headers: { Authorization: auth } }).then(async (response) => {
    expect(response.status, `${path}: ${await response.clone().text()}`).toBe(200);
    return response.json<T>();
  });
}

describe("GET /metrics", () => {
  it("needs the metrics token: an API token or none is refused", async () => {
    for (const auth of [undefined, ALICE, "Bearer wrong"]) {
      const response = await call("/metrics", { headers: auth ? { Authorization: auth } : {} });
      expect(response.status).toBe(401);
      expect(await response.json()).toMatchObject({ field: "Authorization" });
    }
  });

  it("parses as Prometheus text, every pool labelled, and its values move as a build runs", async () => {
    const pool = { pool: DEFAULT_POOL };
    const before = await metrics();
    // Every pool of DOCKIFY_POOLS is there: dave's too.
    expect(before.value("dockify_queue_length", { pool: "dave" })).toBe(0);
    const submittedBefore = before.value("dockify_builds_submitted_total", pool);
    const succeededBefore = before.value("dockify_builds_finished_total", { ...pool, state: "succeeded" });
    const startsBefore = before.histogram("dockify_build_time_to_start_seconds", pool).count;
    const durationsBefore = before.histogram("dockify_build_duration_seconds", pool).count;

    const id = await submitted();
    const waiting = await metrics();
    expect(waiting.value("dockify_builds_submitted_total", pool)).toBe(submittedBefore + 1);
    expect(waiting.value("dockify_queue_length", pool)).toBe(1);
    expect(waiting.value("dockify_builds", { ...pool, state: "queued" })).toBeGreaterThanOrEqual(1);
    expect(waiting.value("dockify_agents", { ...pool, state: "ready" })).toBe(0);

    const agent = await TestAgent.hello("metrics-agent", 2);
    const assign = await agent.next("assign");
    const running = await metrics();
    expect(running.value("dockify_queue_length", pool)).toBe(0);
    expect(running.value("dockify_agents", { ...pool, state: "ready" })).toBe(1);
    expect(running.value("dockify_agent_slots", pool)).toBe(2);
    expect(running.value("dockify_agent_slots_free", pool)).toBe(1);
    expect(running.histogram("dockify_build_time_to_start_seconds", pool).count).toBe(startsBefore + 1);

    const steps = [
      { name: "[1/2] FROM base", cached: true, startedAt: 1_700_000_000_000, durationMs: 0 },
      { name: "[2/2] RUN make", cached: false, startedAt: 1_700_000_000_100, durationMs: 1500 },
    ];
    agent.send({ type: "result", jobId: id, attempt: assign.attempt, outcome: { status: "succeeded", digest: `sha256:${"b".repeat(64)}`, imageId: "sha256:x", steps } });
    await expect.poll(async () => (await metrics()).value("dockify_builds_finished_total", { ...pool, state: "succeeded" })).toBe(succeededBefore + 1);
    const after = await metrics();
    const duration = after.histogram("dockify_build_duration_seconds", pool);
    expect(duration.count).toBe(durationsBefore + 1);
    // Cumulative buckets, the last one counting every build.
    expect(duration.buckets["+Inf"]).toBe(duration.count);
    expect(after.value("dockify_agent_slots_free", pool)).toBe(2);
    // The steps the agent reported are on the record, as the dashboard shows them.
    const record = await get<Build>(`/v1/builds/${id}`);
    expect(record.steps).toEqual([
      { name: "[1/2] FROM base", cached: true, started_at: new Date(1_700_000_000_000).toISOString(), duration_ms: 0, error: null },
      { name: "[2/2] RUN make", cached: false, started_at: new Date(1_700_000_000_100).toISOString(), duration_ms: 1500, error: null },
    ]);
    expect(Date.parse(record.started_at!)).toBeLessThanOrEqual(Date.parse(record.finished_at!));
  });

  it("counts lease expiries and refusals, and keeps its counters across a restart of the pool object", async () => {
    const pool = { pool: DEFAULT_POOL };
    const before = await metrics();
    const agent = await TestAgent.hello("refusing-agent");
    const id = await submitted();
    const assign = await agent.next("assign");
    agent.send({ type: "refused", jobId: id, attempt: assign.attempt, reason: "shutting down" });
    await expect.poll(async () => (await metrics()).value("dockify_agent_refusals_total", pool)).toBe(before.value("dockify_agent_refusals_total", pool) + 1);

    agent.send({ type: "heartbeat", holding: [] });
    const again = await agent.next("assign");
    await runInDurableObject(poolStub(env, DEFAULT_POOL), (_pool, state) => {
      state.storage.sql.exec("UPDATE jobs SET lease_expires_at = ? WHERE id = ?", Date.now() - 1, again.jobId);
    });
    await runDurableObjectAlarm(poolStub(env, DEFAULT_POOL));
    const expired = await metrics();
    expect(expired.value("dockify_lease_expiries_total", pool)).toBe(before.value("dockify_lease_expiries_total", pool) + 1);

    // A new instance of the object reads the same counters from SQLite.
    await runInDurableObject(poolStub(env, DEFAULT_POOL), (_pool, state) => {
      for (const ws of state.getWebSockets()) ws.close(1000, "restart");
    });
    const restarted = await metrics();
    expect(restarted.value("dockify_lease_expiries_total", pool)).toBe(expired.value("dockify_lease_expiries_total", pool));
  });
});

describe("GET /v1/agents and GET /v1/queue", () => {
  it("lists the pool's agents with what they said of themselves, and only the tenant's own builds on each", async () => {
    const agent = await TestAgent.connect();
    if (!(agent instanceof TestAgent)) throw new Error("no socket");
    agent.send({
      type: "hello",
      name: "builder-7",
      version: "0.9.1",
      concurrency: 2,
      labels: { arch: "amd64" },
      holding: [],
      platform: { os: "linux", architecture: "arm64", variant: "v8" },
      builder: "buildkit",
    });
    await agent.next("welcome");
    const alices = await submitted();
    const bobs = await submitted(BOB, { ...QUERY, user_name: "bob" });
    await agent.next("assign");
    await agent.next("assign");

    const list = await get<AgentList>("/v1/agents");
    expect(list.pool).toBe(DEFAULT_POOL);
    expect(list.agents).toHaveLength(1);
    expect(list.agents[0]).toMatchObject({
      name: "builder-7",
      version: "0.9.1",
      labels: { arch: "amd64" },
      slots: 2,
      running: 2,
      builds: [alices],
      state: "ready",
      platform: "linux/arm64/v8",
      builder: "buildkit",
    });
    expect(Date.parse(list.agents[0]!.last_heartbeat_at)).toBeGreaterThan(Date.now() - 60_000);
    expect((await get<AgentList>("/v1/agents", BOB)).agents[0]!.builds).toEqual([bobs]);
    expect((await call("/v1/agents")).status).toBe(401);
  });

  it("summarizes the tenant's waiting builds by reason, with the oldest wait", async () => {
    const empty = await get<QueueSummary>("/v1/queue");
    expect(empty).toMatchObject({ pool: DEFAULT_POOL, waiting: 0, oldest_wait_seconds: null, reasons: [] });
    const first = await submitted();
    await submitted(ALICE, { ...QUERY, labels: "gpu=true" });
    await submitted(BOB, { ...QUERY, user_name: "bob" });
    const queue = await get<QueueSummary>("/v1/queue");
    expect(queue.waiting).toBe(2);
    expect(queue.pool_waiting).toBe(3);
    expect(queue.oldest_build).toBe(first);
    expect(queue.oldest_wait_seconds).toBeGreaterThanOrEqual(0);
    expect(queue.reasons).toEqual([{ kind: "unmatched", reason: "no build agent is connected to pool 'default'", builds: 2 }]);
    expect((await call("/v1/queue", { headers: { Authorization: "Bearer nope" } })).status).toBe(401);
  });
});

describe("notify_url", () => {
  const refusals: [string, RegExp][] = [
    ["ftp://hooks.example.com/x", /https/],
    ["http://hooks.example.com/x", /https/],
    ["https://user:pw@hooks.example.com/x", /user name or password/],
    ["https://10.1.2.3/x", /private/],
    ["https://169.254.169.254/latest/meta-data", /private/],
    ["https://[fd00::1]/x", /private/],
    ["https://[::ffff:192.168.1.1]/x", /private/],
    // 10.0.0.1 spelled as one hex number: the URL parser writes it as 10.0.0.1.
    ["https://0xa000001/x", /private/],
    ["https://intranet/x", /private/],
    ["not a url", /absolute URL/],
  ];

  it("is refused with 400 naming it when it could reach a private address, and nothing is stored", async () => {
    for (const [url, message] of refusals) {
      const response = await submit({ query: { ...QUERY, notify_url: url } });
      expect(response.status, url).toBe(400);
      const body = await response.json<{ field: string; error: string }>();
      expect(body.field, url).toBe("notify_url");
      expect(body.error, url).toMatch(message);
    }
    const tarball = await call(`/v1/builds?${new URLSearchParams({ ...QUERY, notify_url: "https://192.168.0.1/" })}`, {
      method: "POST",
      headers: { Authorization: ALICE, "Content-Type": "application/x-tar", "Content-Length": "1024" },
      body: new Uint8Array(1024),
    });
    expect(tarball.status).toBe(400);
    expect(await tarball.json()).toMatchObject({ field: "notify_url" });
    expect((await get<{ builds: Build[] }>("/v1/builds?limit=100")).builds.filter((build) => build.notify_url !== null)).toEqual([]);
  });

  it("is refused to a tenant without a signing secret, and a tenant's default applies when a build names none", async () => {
    const carol = await submit({ query: { ...QUERY, notify_url: "https://hooks.example.com/x" } }, "Bearer carol-token");
    expect(carol.status).toBe(400);
    expect(await carol.json()).toMatchObject({ field: "notify_url", error: expect.stringContaining("DOCKIFY_WEBHOOKS") });
    const bobs = await submitted(BOB, { ...QUERY, user_name: "bob" });
    expect((await get<Build>(`/v1/builds/${bobs}`, BOB)).notify_url).toBe("https://hooks.bob.example/dockify");
    const own = await submitted(ALICE, { ...QUERY, notify_url: "https://hooks.alice.example/x" });
    expect((await get<Build>(`/v1/builds/${own}`)).notify_url).toBe("https://hooks.alice.example/x");
  });

  it("records each attempt of a delivery the receiver did not take, and retries it with backoff", async () => {
    // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    const id = await submitted(ALICE, { ...QUERY, notify_url: "http://127.0.0.1:9/hook" });
    expect((await get<DeliveryList>(`/v1/builds/${id}/deliveries`)).deliveries).toEqual([]);
    const cancel = await call(`/v1/builds/${id}/cancel`, { method: "POST", headers: { Authorization: ALICE } });
    expect(cancel.status).toBe(200);
    const stub = poolStub(env, DEFAULT_POOL);
    await runDurableObjectAlarm(stub);
    await expect.poll(async () => (await get<DeliveryList>(`/v1/builds/${id}/deliveries`)).deliveries[0]?.attempts.length, { timeout: 5000 }).toBe(1);
    const first = (await get<DeliveryList>(`/v1/builds/${id}/deliveries`)).deliveries[0]!;
    expect(first).toMatchObject({ event: "build.finished", url: "http://127.0.0.1:9/hook", state: "pending", attempts: [{ attempt: 1, status_code: null }] });
    expect(first.attempts[0]!.error).toBeTruthy();
    // The next attempt waits DOCKIFY_WEBHOOK_RETRY_SECONDS (1 s here), three times longer after that.
    expect(Date.parse(first.next_attempt_at!) - Date.parse(first.attempts[0]!.at)).toBeGreaterThanOrEqual(1000);
    await runInDurableObject(stub, (_pool, state) => state.storage.sql.exec("UPDATE webhook_deliveries SET next_attempt_at = ?", Date.now() - 1));
    await runDurableObjectAlarm(stub);
    await expect.poll(async () => (await get<DeliveryList>(`/v1/builds/${id}/deliveries`)).deliveries[0]?.attempts.length, { timeout: 5000 }).toBe(2);
    const failures = (await metrics()).value("dockify_webhook_attempts_failed_total", { pool: DEFAULT_POOL });
    expect(failures).toBeGreaterThanOrEqual(2);
    // Another tenant's build has no deliveries to show: it is unknown.
    expect((await call(`/v1/builds/${id}/deliveries`, { headers: { Authorization: BOB } })).status).toBe(404);
  });
});
