/**
 * Faults through real parts: an agent killed mid-build, the Worker restarted
 * (gracefully and with SIGKILL) under load, builds canceled while queued and
 * while running, and an agent draining on SIGTERM. Builds go in through the
 * seed's POST /build, are watched through GET /status and /v1/builds, and
 * every image that should exist is checked in the registry.
 *
 * Leases are short (3 s, heartbeats every second) so expiry takes seconds.
 * Every test starts its own agents and `afterEach` stops them, so each test
 * begins with no agent connected.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { SeedStatus } from "../../shared/api";
import { renderEvent } from "../../shared/build-log";
import type { AgentProcess } from "../../harness/agent";
import { ok, type SeedSuccess, type UploadFile } from "../../harness/api";
import { docker, pullImage, removeImage, runAndCapture, runStepsWith } from "../../harness/docker";
import { poll } from "../../harness/poll";
import { registryDigest } from "../../harness/registry-image";
import { startStack, type Stack } from "../../harness/stack";

const REPO = "faults";
const LEASE_SECONDS = 3;

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    agents: 0,
    vars: { DOCKIFY_LEASE_SECONDS: String(LEASE_SECONDS), DOCKIFY_HEARTBEAT_SECONDS: "1" },
  });
});

afterEach(async () => {
  // Whatever a test left running (also after a failure): the next test starts with no agent.
  await Promise.allSettled(stack.agents.filter((agent) => agent.running).map((agent) => agent.stop(5_000)));
});

afterAll(async () => {
  await stack?.stop();
});

const auth = () => ({ username: stack.secrets.registryUser, password: stack.secrets.registryPassword });
const imageName = () => `${stack.secrets.registryUser}/${REPO}`;
const referenceOf = (tag: string) => `${stack.registry.host}/${imageName()}:${tag}`;
const unique = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

/** A build whose RUN step echoes `marker` (so its process can be found on the Engine's host) and then sleeps. */
function slowBuild(marker: string, seconds: number): { dockerfile: string; files: UploadFile[]; file: string; content: string } {
  const content = `${marker}\n`;
  return {
    // A command after the sleep keeps the shell, whose command line holds the marker, from exec-ing into `sleep`.
    dockerfile: `FROM ${stack.baseImage}\nCOPY marker.txt /marker.txt\nRUN echo ${marker} && sleep ${seconds} && echo slept\n`,
    files: [{ name: "marker.txt", content }],
    file: "/marker.txt",
    content,
  };
}

/** A build that only copies one file: done in about a second. */
function quickBuild(marker: string) {
  const content = `${marker}\n`;
  return {
    dockerfile: `FROM ${stack.baseImage}\nCOPY note.txt /note.txt\n`,
    files: [{ name: "note.txt", content }],
    file: "/note.txt",
    content,
  };
}

async function submit(tag: string, build: { dockerfile: string; files: UploadFile[] }): Promise<string> {
  const response = await stack.api.submitSeedBuild({
    query: { user_name: stack.secrets.registryUser, repo: REPO, tag, registry: stack.registry.host },
    fields: { password: stack.secrets.registryPassword },
    dockerfile: build.dockerfile,
    files: build.files,
  });
  return ok(response, 200).task_id;
}

function finalStatus(id: string, timeoutMs = 90_000): Promise<SeedStatus> {
  return stack.api.waitForStatus(id, { timeoutMs });
}

async function startAgent(name: string, concurrency = 1): Promise<AgentProcess> {
  const agent = stack.startAgent({ name, concurrency });
  await agent.waitForLine(/registered as agent/, { timeoutMs: 30_000 });
  return agent;
}

function jobStarted(agent: AgentProcess, id: string, attempt: number, from = 0): Promise<string> {
  return agent.waitForLine(`job ${id} attempt ${attempt}: started`, { timeoutMs: 30_000, from });
}

/** Waits until the build's RUN step runs on the Engine: the job is truly in the middle of its build. */
function runStepRunning(marker: string) {
  return poll(`a running RUN step for ${marker}`, async () => {
    const found = runStepsWith(marker);
    return found.length > 0 ? found : undefined;
  }, { timeoutMs: 30_000 });
}

/** The seed's answer for a pushed image; narrows `final` for what follows. */
function expectSuccess(final: SeedStatus, tag: string): asserts final is SeedSuccess {
  expect(final).toEqual({
    status: "success",
    image_reference: referenceOf(tag),
    image_url: `http://${stack.registry.host}/v2/${imageName()}/tags/list`,
    digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
    pushed: [{ reference: referenceOf(tag), digest: (final as SeedSuccess).digest }],
  });
}

/** The registry serves `tag` with `digest`, and the image pulled back from it holds `file` with `content`. */
async function expectInRegistry(tag: string, digest: string, file: string, content: string) {
  expect(await registryDigest(stack.registry.host, auth(), imageName(), tag)).toBe(digest);
  const reference = referenceOf(tag);
  await removeImage(reference);
  await pullImage(reference, auth());
  const pulled = await docker.getImage(reference).inspect();
  expect(pulled.RepoDigests).toContain(`${stack.registry.host}/${imageName()}@${digest}`);
  expect(await runAndCapture(reference, ["cat", file])).toBe(content);
  await removeImage(reference);
}

describe("an agent killed with SIGKILL mid-build", () => {
  it("re-queues the job when its lease expires; a second agent finishes it as attempt 2", async () => {
    const first = await startAgent("crash-a");
    const marker = unique("crash");
    const build = slowBuild(marker, 3);
    const id = await submit("crash", build);
    await jobStarted(first, id, 1);
    // The idle second agent is there before the crash; with concurrency 1 busy, the first keeps the job until then.
    const second = await startAgent("crash-b");
    await runStepRunning(marker);
    expect((await stack.api.build(id)).body).toMatchObject({ state: "building", attempt: 1 });

    const killedAt = Date.now();
    first.kill("SIGKILL");
    expect(await first.exited).toMatchObject({ signal: "SIGKILL" });

    await jobStarted(second, id, 2);
    const requeuedAfterMs = Date.now() - killedAt;
    const final = await finalStatus(id);
    expectSuccess(final, "crash");

    const { status, body } = await stack.api.build(id);
    expect(status).toBe(200);
    expect(body).toMatchObject({ id, state: "succeeded", attempt: 2, digest: final.digest });
    const log = await stack.api.log(id);
    const leaseExpired = renderEvent({ type: "lease-expired", attempt: 1 });
    const reassigned = renderEvent({ type: "assigned", attempt: 2, agent: "crash-b" });
    expect(log).toContain(renderEvent({ type: "assigned", attempt: 1, agent: "crash-a" }));
    expect(log).toContain(leaseExpired);
    expect(log).toContain(reassigned);
    expect(log.indexOf(leaseExpired)).toBeLessThan(log.indexOf(reassigned));
    // Not before the lease could have run out: a heartbeat (every second) renewed it for 3 s shortly before the kill.
    expect(requeuedAfterMs).toBeGreaterThanOrEqual((LEASE_SECONDS - 2) * 1000);
    expect(requeuedAfterMs).toBeLessThan((LEASE_SECONDS + 10) * 1000);

    await expectInRegistry("crash", final.digest!, build.file, build.content);
  });
});

describe.each([
  { mode: "graceful", suffix: "graceful", hard: false, downMs: 0 },
  { mode: "hard (SIGKILL)", suffix: "hard", hard: true, downMs: 0 },
  // Down longer than a lease: the running job's lease lapses while no Worker runs.
  { mode: "hard (SIGKILL), down longer than the lease", suffix: "down", hard: true, downMs: (LEASE_SECONDS + 2) * 1000 },
])("the Worker restarted ($mode)", ({ mode, suffix, hard, downMs }) => {
  it("finishes a running and a queued job afterwards, agents reconnecting on their own; finished jobs still answer", async () => {
    const agent = await startAgent(`restart-${suffix}`);
    const pid = agent.pid;

    // One job finished before the restart.
    const doneBuild = quickBuild(unique("done"));
    const done = await submit(`restart-${suffix}-done`, doneBuild);
    const doneFinal = await finalStatus(done);
    expectSuccess(doneFinal, `restart-${suffix}-done`);
    const doneRecord = (await stack.api.build(done)).body;

    // One running (the only slot is busy for 4 s) and one queued behind it.
    const marker = unique(`restart-${suffix}`);
    const runningBuild = slowBuild(marker, 4);
    const running = await submit(`restart-${suffix}-running`, runningBuild);
    await jobStarted(agent, running, 1);
    await runStepRunning(marker);
    const queuedBuild = quickBuild(unique("queued"));
    const queued = await submit(`restart-${suffix}-queued`, queuedBuild);
    expect((await stack.api.build(queued)).body).toMatchObject({ state: "queued", attempt: 0 });
    expect((await stack.api.build(running)).body).toMatchObject({ state: "building", attempt: 1 });

    const from = agent.outputLength();
    const restartedAt = Date.now();
    if (downMs > 0) {
      stack.worker.process.kill("SIGKILL");
      await stack.worker.process.exited;
      await sleep(downMs);
    }
    // After the kill above, restart() finds the process gone and only starts the new one.
    await stack.worker.restart({ hard });
    const restartMs = Date.now() - restartedAt;

    // The agent was not touched: the same process notices, reconnects and registers again.
    await agent.waitForLine(/disconnected from the pool/, { from, timeoutMs: 30_000 });
    await agent.waitForLine(/registered as agent/, { from, timeoutMs: 60_000 });
    expect(agent.running).toBe(true);
    expect(agent.pid).toBe(pid);

    const [runningFinal, queuedFinal] = await Promise.all([finalStatus(running), finalStatus(queued)]);
    expectSuccess(runningFinal, `restart-${suffix}-running`);
    expectSuccess(queuedFinal, `restart-${suffix}-queued`);

    // The job that had finished before the restart still answers the same.
    expect((await stack.api.status(done)).body).toEqual(doneFinal);
    expect((await stack.api.build(done)).body).toEqual(doneRecord);
    const pushed = renderEvent({ type: "pushed", reference: referenceOf(`restart-${suffix}-done`), digest: doneFinal.digest! });
    expect(await stack.api.log(done)).toContain(pushed);

    const runningRecord = ok(await stack.api.build(running));
    const queuedRecord = ok(await stack.api.build(queued));
    expect(runningRecord).toMatchObject({ state: "succeeded", digest: runningFinal.digest });
    expect(queuedRecord).toMatchObject({ state: "succeeded", digest: queuedFinal.digest });
    console.log(`[faults] worker restart (${mode}) took ${restartMs} ms; running job ended on attempt ${runningRecord.attempt}, queued job on attempt ${queuedRecord.attempt}`);

    await expectInRegistry(`restart-${suffix}-running`, runningFinal.digest!, runningBuild.file, runningBuild.content);
    await expectInRegistry(`restart-${suffix}-queued`, queuedFinal.digest!, queuedBuild.file, queuedBuild.content);
  });
});

describe("POST /v1/builds/{id}/cancel", () => {
  it("cancels a queued job at once (200, state canceled) and it never runs", async () => {
    // No agent is connected: the job waits in the queue.
    const id = await submit("cancel-queued", quickBuild(unique("cancel-queued")));
    expect((await stack.api.build(id)).body).toMatchObject({ state: "queued", attempt: 0 });

    const canceled = await stack.api.cancel(id);
    expect(canceled.status, JSON.stringify(canceled.body)).toBe(200);
    expect(canceled.body).toMatchObject({ id, state: "canceled", image_reference: referenceOf("cancel-queued") });
    expect((await stack.api.status(id)).body).toEqual({
      status: "failed",
      step: "canceled",
      error: expect.any(String),
    });

    // An agent that comes now takes the next job, never the canceled one.
    const agent = await startAgent("cancel-q");
    const nextBuild = quickBuild(unique("after-cancel"));
    const next = await submit("after-cancel", nextBuild);
    const nextFinal = await finalStatus(next);
    expectSuccess(nextFinal, "after-cancel");
    expect(agent.output()).not.toContain(id);
    expect((await stack.api.build(id)).body).toMatchObject({ state: "canceled", attempt: 0 });
    expect((await stack.api.status(id)).body).toMatchObject({ status: "failed", step: "canceled" });
    expect(await registryDigest(stack.registry.host, auth(), imageName(), "cancel-queued")).toBeUndefined();
  });

  it("cancels a running build (202): canceled within seconds, its RUN step gone from the Engine", async () => {
    const agent = await startAgent("cancel-r");
    const marker = unique("cancel-running");
    const id = await submit("cancel-running", slowBuild(marker, 30));
    await jobStarted(agent, id, 1);
    await runStepRunning(marker);

    const asked = Date.now();
    const canceled = await stack.api.cancel(id);
    expect([200, 202], JSON.stringify(canceled.body)).toContain(canceled.status);
    expect(canceled.body).toMatchObject({ id });

    const record = await stack.api.waitForBuild(id, (build) => build.state === "canceled", { timeoutMs: 10_000, what: "canceled" });
    const tookMs = Date.now() - asked;
    expect(record).toMatchObject({ state: "canceled", step: "canceled", digest: null });
    expect((await stack.api.status(id)).body).toEqual({
      status: "failed",
      step: "canceled",
      error: expect.any(String),
    });
    // The agent stopped the build: the Engine kills the RUN step.
    await poll(`no running RUN step for ${marker}`, async () => (runStepsWith(marker).length === 0 ? true : undefined), {
      timeoutMs: 15_000,
    });
    await agent.waitForLine(`job ${id} attempt 1: canceled`, { timeoutMs: 15_000 });
    console.log(`[faults] running build canceled in ${tookMs} ms (HTTP ${canceled.status})`);

    // Canceling again: it has ended.
    const again = await stack.api.cancel(id);
    expect(again.status).toBe(409);
    expect(again.body).toEqual({ error: expect.any(String), field: expect.any(String) });

    // The slot is free again, and the canceled build stays canceled (no late result, no re-queue).
    const nextBuild = quickBuild(unique("after-running-cancel"));
    const next = await submit("after-running-cancel", nextBuild);
    expectSuccess(await finalStatus(next), "after-running-cancel");
    expect((await stack.api.build(id)).body).toMatchObject({ state: "canceled", attempt: 1 });
    expect(await registryDigest(stack.registry.host, auth(), imageName(), "cancel-running")).toBeUndefined();
  });

  it("answers 409 for a finished build, 404 for an unknown one, 401 without a token", async () => {
    await startAgent("cancel-f");
    const id = await submit("cancel-finished", quickBuild(unique("cancel-finished")));
    const final = await finalStatus(id);
    expectSuccess(final, "cancel-finished");

    const finished = await stack.api.cancel(id);
    expect(finished.status).toBe(409);
    expect(finished.body).toEqual({ error: expect.any(String), field: expect.any(String) });
    expect((await stack.api.status(id)).body).toEqual(final);

    const unknown = await stack.api.cancel("0b6f7c2e-1111-4222-8333-444455556666");
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ error: expect.any(String) });

    const anonymous = await stack.api.withToken(undefined).cancel(id);
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toMatchObject({ error: expect.any(String) });
  });
});

describe("an agent shut down with SIGTERM", () => {
  it("finishes its running builds, takes no new job while draining (even with a free slot), and exits 0", async () => {
    // Two slots, both busy: a short build and a longer one. A third build waits in the queue.
    const draining = await startAgent("drain-a", 2);
    const shortBuild = slowBuild(unique("drain-short"), 2);
    const longBuild = slowBuild(unique("drain-long"), 5);
    const short = await submit("drain-short", shortBuild);
    const long = await submit("drain-long", longBuild);
    await Promise.all([jobStarted(draining, short, 1), jobStarted(draining, long, 1)]);
    const waitingBuild = quickBuild(unique("drain-waiting"));
    const waiting = await submit("drain-waiting", waitingBuild);
    expect((await stack.api.build(waiting)).body).toMatchObject({ state: "queued", attempt: 0 });

    const from = draining.outputLength();
    draining.kill("SIGTERM");
    await draining.waitForLine(/taking no more jobs/, { from, timeoutMs: 10_000 });

    // The short build ends while the long one still runs: a slot is free, and the pool must not fill it.
    const shortFinal = await finalStatus(short);
    expectSuccess(shortFinal, "drain-short");
    // Submitted well after the SIGTERM: it must wait as well.
    const lateBuild = quickBuild(unique("drain-late"));
    const late = await submit("drain-late", lateBuild);
    const longFinal = await finalStatus(long);
    expectSuccess(longFinal, "drain-long");
    for (const id of [short, long]) {
      expect((await stack.api.build(id)).body).toMatchObject({ state: "succeeded", attempt: 1 });
    }
    const exit = await poll("the draining agent to exit", () => (draining.running ? undefined : draining.exited), { timeoutMs: 20_000 });
    expect(exit).toEqual({ code: 0, signal: null });
    expect(draining.output()).toMatch(/stopped/);

    // Both later builds waited for an agent that takes jobs.
    for (const id of [waiting, late]) {
      expect((await stack.api.build(id)).body).toMatchObject({ state: "queued", attempt: 0 });
      expect(draining.output()).not.toContain(id);
    }
    const other = await startAgent("drain-b", 2);
    const [waitingFinal, lateFinal] = await Promise.all([finalStatus(waiting), finalStatus(late)]);
    expectSuccess(waitingFinal, "drain-waiting");
    expectSuccess(lateFinal, "drain-late");
    for (const id of [waiting, late]) {
      expect((await stack.api.build(id)).body).toMatchObject({ state: "succeeded", attempt: 1 });
      const log = await stack.api.log(id);
      expect(log).toContain(renderEvent({ type: "assigned", attempt: 1, agent: "drain-b" }));
      // drain-a is named only as the agent that built this repository last, now gone (the pool says why it chose drain-b).
      expect(log.replaceAll("agent drain-a, which built this repository last, is not connected", "")).not.toContain("drain-a");
      expect(other.output()).toContain(`job ${id} attempt 1: started`);
    }

    await expectInRegistry("drain-short", shortFinal.digest!, shortBuild.file, shortBuild.content);
    await expectInRegistry("drain-long", longFinal.digest!, longBuild.file, longBuild.content);
    await expectInRegistry("drain-waiting", waitingFinal.digest!, waitingBuild.file, waitingBuild.content);
    await expectInRegistry("drain-late", lateFinal.digest!, lateBuild.file, lateBuild.content);
  });
});
