import type { AgentList, Build, SeedAccepted, SeedStatus } from "../../shared/api";
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { renderEvent, type BuildEvent } from "../../shared/build-log";
import { CLOSE } from "../../shared/protocol";
import { DEFAULT_POOL, poolStub } from "../../worker/pool/stub";
import { TestAgent } from "./agent-socket";
import { AGENT, ALICE, call, submit } from "./helpers";

const PASSWORD = "pa55-w0rd-recognisable";

async function submitted(password?: string): Promise<string> {
  const headers: Record<string, string> = password ? { "X-Registry-Password": password } : {};
  const query = { user_name: "alice", repo: "web", tag: "v1", registry: "127.0.0.1:5000" };
  const response = await submit({ query, headers, files: [{ name: "app.sh", content: "echo hi\n" }] });
  expect(response.status).toBe(200);
  return (await response.json<SeedAccepted>()).task_id;
}

function status(id: string) {
  return call(`/status/${id}`, { headers: { Authorization: ALICE } }).then((response) => response.json<SeedStatus>());
}

/**
 * Each test starts with an empty pool: storage is shared by the tests of this file, and a job or an agent an
 * earlier test left (an agent whose close the pool has not seen yet, on a loaded machine) would take work first.
 */
beforeEach(async () => {
  await runInDurableObject(poolStub(env, DEFAULT_POOL), (_pool, state) => {
    for (const ws of state.getWebSockets()) ws.close(1000, "next test");
    state.storage.sql.exec("DELETE FROM agents");
    state.storage.sql.exec("UPDATE jobs SET state = 'canceled', step = 'canceled', finished_at = ? WHERE state = 'queued'", Date.now());
  });
});

/** Moves a job's lease into the past and runs the alarm, as time passing would. */
async function expireLease(jobId: string): Promise<void> {
  const stub = poolStub(env, DEFAULT_POOL);
  await runInDurableObject(stub, (_pool, state) => {
    state.storage.sql.exec("UPDATE jobs SET lease_expires_at = ? WHERE id = ?", Date.now() - 1, jobId);
  });
  await runDurableObjectAlarm(stub);
}

describe("pool and agents", () => {
  it("refuses an agent without a valid agent token", async () => {
    const refused = await TestAgent.connect("Bearer alice-token");
    expect(refused).toBeInstanceOf(Response);
    expect((refused as Response).status).toBe(401);
  });

  it("closes the socket on a message that fails the schema", async () => {
    const agent = await TestAgent.connect();
    if (!(agent instanceof TestAgent)) throw new Error("no socket");
    agent.send({ type: "hello", name: "", version: "1", concurrency: 0, labels: {}, holding: [] } as never);
    const closed = await agent.waitClosed();
    expect(closed.code).toBe(CLOSE.invalidMessage);
    expect(closed.reason).toMatch(/name|concurrency/);
  });

  it("assigns a job at once, serves its context only with the lease, and records success", async () => {
    const agent = await TestAgent.hello();
    const id = await submitted(PASSWORD);
    const assign = await agent.next("assign");
    expect(assign).toMatchObject({
      jobId: id,
      attempt: 1,
      image: { reference: "127.0.0.1:5000/alice/web:v1" },
      auth: { username: "alice", password: PASSWORD, serveraddress: "127.0.0.1:5000" },
    });

    const wrongLease = await call(assign.contextPath, { headers: { Authorization: AGENT, "X-Dockify-Lease": "x".repeat(64) } });
    expect(wrongLease.status).toBe(403);
    const context = await call(assign.contextPath, { headers: { Authorization: AGENT, "X-Dockify-Lease": assign.leaseToken } });
    expect(context.status).toBe(200);
    const tar = new Uint8Array(await context.arrayBuffer());
    expect(tar.byteLength % 512).toBe(0);
    expect(new TextDecoder().decode(tar.subarray(0, 10))).toBe("Dockerfile");

    const fence = { jobId: id, attempt: 1 };
    agent.send({ type: "phase", ...fence, phase: "building" });
    agent.send({ type: "log", ...fence, entries: ["Step 1/2 : FROM scratch", `leaked ${PASSWORD} here`] });
    agent.send({ type: "phase", ...fence, phase: "pushing" });
    expect(await status(id)).toEqual({ status: "processing" });
    const digest = `sha256:${"a".repeat(64)}`;
    agent.send({ type: "result", ...fence, outcome: { status: "succeeded", digest, imageId: "sha256:abc" } });
    await waitFor(async () => (await status(id)).status === "success");
    expect(await status(id)).toEqual({
      status: "success",
      image_url: "http://127.0.0.1:5000/v2/alice/web/tags/list",
      image_reference: "127.0.0.1:5000/alice/web:v1",
      digest,
      // An agent that does not list what it pushed pushed the job's own reference alone.
      pushed: [{ reference: "127.0.0.1:5000/alice/web:v1", digest }],
    });
    // A success stored before the pool kept what was pushed (no list in its row) shows the same.
    await runInDurableObject(poolStub(env, DEFAULT_POOL), (_pool, state) => {
      state.storage.sql.exec("UPDATE jobs SET pushed = NULL WHERE id = ?", id);
    });
    expect(await status(id)).toMatchObject({ pushed: [{ reference: "127.0.0.1:5000/alice/web:v1", digest }] });
    const log = await (await call(`/v1/builds/${id}/logs`, { headers: { Authorization: ALICE } })).text();
    expect(log).toContain("Step 1/2 : FROM scratch");
    expect(log).toContain("leaked *** here");
    expect(log).not.toContain(PASSWORD);
    // The job is over: its context is gone and the lease no longer opens anything.
    const after = await call(assign.contextPath, { headers: { Authorization: AGENT, "X-Dockify-Lease": assign.leaseToken } });
    expect(after.status).toBe(403);
    await runInDurableObject(poolStub(env, DEFAULT_POOL), (_pool, state) => {
      const row = state.storage.sql.exec("SELECT sealed_password, lease_hash FROM jobs WHERE id = ?", id).one();
      expect(row.sealed_password).toBeNull();
      expect(row.lease_hash).toBeNull();
    });
    agent.ws.close();
  });

  it("ignores results from an older attempt and re-queues a job whose lease expired", async () => {
    const first = await TestAgent.hello("first");
    const id = await submitted();
    const assign1 = await first.next("assign");
    first.ws.close();
    const second = await TestAgent.hello("second");
    await expireLease(id);
    const assign2 = await second.next("assign");
    expect(assign2).toMatchObject({ jobId: id, attempt: 2 });

    // The first agent's late failure (attempt 1) must not end the job.
    const late = await TestAgent.hello("first-again");
    late.send({ type: "result", jobId: id, attempt: assign1.attempt, outcome: { status: "failed", step: "build", error: "late" } });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await status(id)).toEqual({ status: "processing" });

    second.send({ type: "result", jobId: id, attempt: 2, outcome: { status: "failed", step: "push", error: "denied: no" } });
    await waitFor(async () => (await status(id)).status === "failed");
    expect(await status(id)).toEqual({ status: "failed", step: "push", error: "denied: no" });
    second.ws.close();
    late.ws.close();
  });

  it("fails a job with step agent after the last attempt", async () => {
    const id = await submitted();
    for (let attempt = 1; attempt <= 3; attempt++) {
      const agent = await TestAgent.hello(`doomed-${attempt}`);
      expect(await agent.next("assign")).toMatchObject({ jobId: id, attempt });
      agent.ws.close();
      await expireLease(id);
    }
    const final = (await status(id)) as { status: string; step: string; error: string };
    expect(final.status).toBe("failed");
    expect(final.step).toBe("agent");
    expect(final.error).toMatch(/stopped responding.*attempt 3 of 3/);
  });

  it("lets a reconnecting agent keep its job by proving the lease", async () => {
    const agent = await TestAgent.hello();
    const id = await submitted();
    const assign = await agent.next("assign");
    agent.ws.close();
    const back = await TestAgent.connect();
    if (!(back instanceof TestAgent)) throw new Error("no socket");
    const holding = [{ jobId: id, attempt: assign.attempt, leaseToken: assign.leaseToken }];
    back.send({ type: "hello", name: "back", version: "test", concurrency: 1, labels: {}, holding });
    await back.next("welcome");
    back.send({ type: "result", jobId: id, attempt: 1, outcome: { status: "canceled" } });
    await waitFor(async () => (await status(id)).status === "failed");
    expect(await status(id)).toMatchObject({ status: "failed", step: "canceled" });
    back.ws.close();
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("cancel", () => {
  const cancel = (id: string, auth = ALICE) => call(`/v1/builds/${id}/cancel`, { method: "POST", headers: { Authorization: auth } });

  it("ends a queued job at once and refuses to cancel it twice", async () => {
    const id = await submitted();
    const response = await cancel(id);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ id, state: "canceled", step: "canceled" });
    expect(await status(id)).toMatchObject({ status: "failed", step: "canceled" });
    const again = await cancel(id);
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ field: "id" });
    expect((await cancel(id, "Bearer bob-token")).status).toBe(404);
  });

  it("tells the running agent, repeats it on heartbeats, and ends canceled when the agent confirms", async () => {
    const agent = await TestAgent.hello();
    const id = await submitted();
    const assign = await agent.next("assign");
    const response = await cancel(id);
    expect(response.status).toBe(202);
    expect(await agent.next("cancel")).toMatchObject({ jobId: id, attempt: 1 });
    agent.send({ type: "heartbeat", holding: [{ jobId: id, attempt: 1, leaseToken: assign.leaseToken }] });
    expect(await agent.next("cancel")).toMatchObject({ jobId: id, attempt: 1 });
    expect(await status(id)).toEqual({ status: "processing" });
    agent.send({ type: "result", jobId: id, attempt: 1, outcome: { status: "canceled" } });
    await waitFor(async () => (await status(id)).status === "failed");
    expect(await status(id)).toMatchObject({ status: "failed", step: "canceled" });
    agent.ws.close();
  });

  it("says cancel once per heartbeat, not with every log batch the agent keeps sending", async () => {
    const agent = await TestAgent.hello();
    const id = await submitted();
    const assign = await agent.next("assign");
    expect((await cancel(id)).status).toBe(202);
    await agent.next("cancel");
    for (let batch = 0; batch < 3; batch++) agent.send({ type: "log", jobId: id, attempt: 1, entries: [`still going ${batch}`] });
    agent.send({ type: "heartbeat", holding: [{ jobId: id, attempt: 1, leaseToken: assign.leaseToken }] });
    await agent.next("cancel");
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(agent.received.filter((message) => message.type === "cancel")).toEqual([]);
    agent.ws.close();
  });

  it("takes log batches from agents released before log entries (lines: string[]) as plain lines", async () => {
    const agent = await TestAgent.hello("older");
    const id = await submitted();
    const { attempt } = await agent.next("assign");
    agent.send(JSON.stringify({ type: "log", jobId: id, attempt, lines: ["Step 1/1 : FROM scratch"] }));
    await waitFor(async () => (await (await call(`/v1/builds/${id}/logs`, { headers: { Authorization: ALICE } })).text()).includes("Step 1/1 : FROM scratch"));
    expect(agent.closed).toBeNull();
    agent.ws.close();
  });

  it("ends a canceled job canceled when its agent goes silent", async () => {
    const agent = await TestAgent.hello();
    const id = await submitted();
    await agent.next("assign");
    agent.ws.close();
    expect((await cancel(id)).status).toBe(202);
    await expireLease(id);
    expect(await status(id)).toMatchObject({ status: "failed", step: "canceled" });
  });
});

describe("labels, slots and draining", () => {
  it("gives a build only to an agent with its labels, and says why it waits meanwhile", async () => {
    const plain = await TestAgent.hello("plain");
    const response = await submit({ query: { user_name: "alice", repo: "web", labels: "arch=arm64" } });
    const { task_id: id } = await response.json<SeedAccepted>();
    expect(await status(id)).toEqual({ status: "processing", waiting: "no connected build agent of pool 'default' has the labels arch=arm64" });
    const arm = await TestAgent.connect();
    if (!(arm instanceof TestAgent)) throw new Error("no socket");
    arm.send({ type: "hello", name: "arm", version: "test", concurrency: 1, labels: { arch: "arm64", disk: "ssd" }, holding: [] });
    expect(await arm.next("assign")).toMatchObject({ jobId: id });
    expect(plain.received.filter((message) => message.type === "assign")).toEqual([]);
    plain.ws.close();
    arm.ws.close();
  });

  it("fills every slot of an agent, and assigns nothing new to one that is draining", async () => {
    const agent = await TestAgent.hello("two-slots", 2);
    const [a, b, c] = [await submitted(), await submitted(), await submitted()];
    const first = await agent.next("assign");
    const second = await agent.next("assign");
    expect(new Set([first.jobId, second.jobId])).toEqual(new Set([a, b]));
    expect(await status(c)).toEqual({ status: "processing" });
    agent.send({ type: "draining" });
    // The pool takes one socket's frames in order, but the test client in workerd can deliver a later frame first
    // (a real agent's socket cannot): the result waits until the pool has seen the drain.
    await waitFor(async () => {
      const { agents } = await (await call("/v1/agents", { headers: { Authorization: ALICE } })).json<AgentList>();
      return agents.some((listed) => listed.name === "two-slots" && listed.state === "draining");
    });
    agent.send({ type: "result", jobId: a, attempt: 1, outcome: { status: "canceled" } });
    await waitFor(async () => (await status(a)).status === "failed");
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(agent.received.filter((message) => message.type === "assign")).toEqual([]);
    const view = await (await call(`/v1/builds/${c}`, { headers: { Authorization: ALICE } })).json<Build>();
    expect(view.waiting).toBe("every agent that can build it is shutting down");
    agent.ws.close();
  });
});

describe("the log", () => {
  it("keeps Dockify's events as data beside their text, and an agent's look-alike line as a plain line", async () => {
    const agent = await TestAgent.hello("recorder");
    const id = await submitted();
    const { attempt } = await agent.next("assign");
    const forged = renderEvent({ type: "pushed", reference: "evil/image:latest", digest: `sha256:${"f".repeat(64)}` });
    agent.send({ type: "log", jobId: id, attempt, entries: [{ event: { type: "downloading-context" } }, forged] });
    await waitFor(async () => (await (await call(`/v1/builds/${id}/logs`, { headers: { Authorization: ALICE } })).text()).includes(forged));
    await runInDurableObject(poolStub(env, DEFAULT_POOL), (_pool, state) => {
      const rows = state.storage.sql.exec<{ line: string; event: string | null }>("SELECT line, event FROM log_lines WHERE job_id = ? ORDER BY seq", id).toArray();
      // Why the pool chose the agent depends on the builds of earlier tests (dispatch.test.ts tests that).
      const assigned = JSON.parse(rows[0]!.event!) as BuildEvent;
      expect(assigned).toEqual({ type: "assigned", attempt, agent: "recorder", placement: expect.objectContaining({ reason: "least-busy" }) });
      expect(rows).toEqual([
        { line: renderEvent(assigned), event: JSON.stringify(assigned) },
        { line: renderEvent({ type: "downloading-context" }), event: JSON.stringify({ type: "downloading-context" }) },
        { line: forged, event: null },
      ]);
    });
    agent.ws.close();
  });
});

describe("refused assignments", () => {
  it("re-queues a job the agent refuses at once, to the next agent, without waiting for the lease", async () => {
    const reluctant = await TestAgent.hello("reluctant");
    const id = await submitted();
    const assign = await reluctant.next("assign");
    expect(assign.jobId).toBe(id);
    const willing = await TestAgent.hello("willing");
    reluctant.send({ type: "draining" });
    reluctant.send({ type: "refused", jobId: id, attempt: assign.attempt, reason: "the agent is shutting down" });
    expect(await willing.next("assign")).toMatchObject({ jobId: id, attempt: assign.attempt + 1 });
    const log = await (await call(`/v1/builds/${id}/logs`, { headers: { Authorization: ALICE } })).text();
    expect(log).toContain(renderEvent({ type: "refused", attempt: assign.attempt, reason: "the agent is shutting down" }));
    reluctant.ws.close();
    willing.ws.close();
  });
});

describe("what agents send is bounded and scrubbed", () => {
  it("redacts the password from a success's step names and errors (BuildKit writes ARG values into them)", async () => {
    const agent = await TestAgent.hello("steps");
    const id = await submitted(PASSWORD);
    const { attempt } = await agent.next("assign");
    const digest = `sha256:${"c".repeat(64)}`;
    const steps = [{ name: `[2/2] RUN echo ${PASSWORD} > /x`, cached: false, startedAt: 1, durationMs: 5, error: `no ${PASSWORD}` }];
    agent.send({ type: "result", jobId: id, attempt, outcome: { status: "succeeded", digest, imageId: "sha256:abc", steps } });
    await waitFor(async () => (await status(id)).status === "success");
    const record = await (await call(`/v1/builds/${id}`, { headers: { Authorization: ALICE } })).json<Build>();
    expect(record.steps).toEqual([expect.objectContaining({ name: "[2/2] RUN echo *** > /x", error: "no ***" })]);
    expect(JSON.stringify(record)).not.toContain(PASSWORD);
    agent.ws.close();
  });

  it("redacts the password from a failure's error, not only from log lines", async () => {
    const agent = await TestAgent.hello("leaky");
    const id = await submitted(PASSWORD);
    const { attempt } = await agent.next("assign");
    agent.send({ type: "result", jobId: id, attempt, outcome: { status: "failed", step: "push", error: `denied for ${PASSWORD}` } });
    await waitFor(async () => (await status(id)).status === "failed");
    expect(await status(id)).toEqual({ status: "failed", step: "push", error: "denied for ***" });
    agent.ws.close();
  });

  it("keeps at most 4 MiB of a build's log and says how many lines it dropped", async () => {
    const agent = await TestAgent.hello("chatty");
    const id = await submitted();
    const { attempt } = await agent.next("assign");
    const line = "y".repeat(4000);
    for (let batch = 0; batch < 20; batch++) agent.send({ type: "log", jobId: id, attempt, entries: Array(60).fill(line) });
    const notice = /\[dockify\] \d+ more log line\(s\) not kept: a build log keeps at most 20000 lines and 4 MiB\n$/;
    const logText = async () => (await call(`/v1/builds/${id}/logs`, { headers: { Authorization: ALICE } })).text();
    // The live log says so too. Waiting for it here also keeps the result behind the batches: the test
    // client in workerd can deliver a small frame ahead of large ones sent before it, which a real agent's socket does not.
    await waitFor(async () => notice.test(await logText()), 5000);
    agent.send({ type: "result", jobId: id, attempt, outcome: { status: "canceled" } });
    await waitFor(async () => (await status(id)).status === "failed");
    const log = await logText();
    expect(log.length).toBeLessThan(4 * 1024 * 1024 + 200);
    expect(log).toMatch(notice);
    agent.ws.close();
  });

  it("gives nothing to an agent that reconnects while draining, and queues again what it never started", async () => {
    const id = await submitted();
    const back = await TestAgent.connect();
    if (!(back instanceof TestAgent)) throw new Error("no socket");
    back.send({ type: "hello", name: "draining-back", version: "test", concurrency: 2, labels: {}, holding: [], draining: true });
    await back.next("welcome");
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(back.received.filter((message) => message.type === "assign")).toEqual([]);
    expect(await status(id)).toEqual({ status: "processing" });
    back.ws.close();
  });

  it("gives a refusing agent nothing more until its next heartbeat", async () => {
    const agent = await TestAgent.hello("full");
    const id = await submitted();
    const assign = await agent.next("assign");
    agent.send({ type: "refused", jobId: id, attempt: assign.attempt, reason: "every slot is busy" });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(agent.received.filter((message) => message.type === "assign")).toEqual([]);
    agent.send({ type: "heartbeat", holding: [] });
    expect(await agent.next("assign")).toMatchObject({ jobId: id, attempt: assign.attempt + 1 });
    agent.ws.close();
  });
});
