/**
 * Chaos: 30 builds over three single-slot agents while a bounded loop kills
 * a random agent with SIGKILL every 2–4 s and starts a new agent process in
 * its place a moment later. Short leases get the killed agents' jobs back
 * into the queue in seconds; DOCKIFY_MAX_ATTEMPTS is high enough that the
 * kills cannot use up a job's attempts.
 *
 * Every job must end `success` exactly once (a final status never changes
 * when polled again), and every image must be in the registry under the
 * reported digest, holding its own unique file.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Build, SeedStatus } from "../../shared/api";
import { ok, type SeedSuccess } from "../../harness/api";
import { agentChaos, pollUntilFinal, random } from "../../harness/chaos";
import { registryDigest, registryFile } from "../../harness/registry-image";
import { startStack, type Stack } from "../../harness/stack";

const JOBS = 30;
const AGENTS = 3;
const REPO = "chaos";
/** The kill loop stops after this long even if builds are still running; they then finish undisturbed. */
const CHAOS_MAX_MS = 60_000;
/** Every job must be final by then. */
const JOBS_DEADLINE_MS = 100_000;
const POLL_MS = 750;

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    agents: 0,
    vars: { DOCKIFY_LEASE_SECONDS: "3", DOCKIFY_HEARTBEAT_SECONDS: "1", DOCKIFY_MAX_ATTEMPTS: "10" },
  });
});

afterAll(async () => {
  await stack?.stop();
});

const auth = () => ({ username: stack.secrets.registryUser, password: stack.secrets.registryPassword });
const imageName = () => `${stack.secrets.registryUser}/${REPO}`;

interface Job {
  index: number;
  tag: string;
  content: string;
  id: string;
}

async function submit(index: number): Promise<Job> {
  const tag = `build-${String(index).padStart(2, "0")}`;
  const content = `job ${index} ${randomUUID()}\n`;
  // The unique file comes first, so no RUN step is ever a cache hit: every build really sleeps.
  const seconds = random(0.5, 1.5).toFixed(1);
  const dockerfile = `FROM ${stack.baseImage}\nCOPY unique.txt /unique.txt\nRUN sleep ${seconds}\n`;
  const response = await stack.api.submitSeedBuild({
    query: { user_name: stack.secrets.registryUser, repo: REPO, tag, registry: stack.registry.host },
    fields: { password: stack.secrets.registryPassword },
    dockerfile,
    files: [{ name: "unique.txt", content }],
  });
  return { index, tag, content, id: ok(response, 200).task_id };
}

/** The seed's answer for a pushed image; narrows `final` for what follows. */
function expectSuccess(final: SeedStatus, tag: string): asserts final is SeedSuccess {
  expect(final, tag).toEqual({
    status: "success",
    image_reference: `${stack.registry.host}/${imageName()}:${tag}`,
    image_url: `http://${stack.registry.host}/v2/${imageName()}/tags/list`,
    digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
    pushed: [{ reference: `${stack.registry.host}/${imageName()}:${tag}`, digest: (final as SeedSuccess).digest }],
  });
}

describe("chaos: agents killed at random while 30 builds run", () => {
  it("finishes every build exactly once, successfully, with its image in the registry", async () => {
    const startedAt = Date.now();
    const chaos = agentChaos(stack, { slots: AGENTS, agent: { concurrency: 1 }, killEveryMs: [2_000, 4_000], maxMs: CHAOS_MAX_MS });
    await chaos.ready;

    // Submitted a few at a time, as clients would.
    const jobs: Job[] = [];
    for (let index = 0; index < JOBS; index += 5) {
      jobs.push(...(await Promise.all(Array.from({ length: Math.min(5, JOBS - index) }, (_, offset) => submit(index + offset)))));
    }
    expect(new Set(jobs.map((job) => job.id)).size).toBe(JOBS);

    // Poll every job until all are final; a final status must never change afterwards.
    chaos.start();
    let polled: Awaited<ReturnType<typeof pollUntilFinal>>;
    let kills: number;
    try {
      polled = await pollUntilFinal(stack.api, jobs.map((job) => job.id), { deadlineMs: JOBS_DEADLINE_MS, intervalMs: POLL_MS });
    } finally {
      kills = await chaos.stop();
    }
    const { finals, flips } = polled;
    const wallMs = Date.now() - startedAt;
    const pending = jobs.filter((job) => !finals.has(job.id)).map((job) => job.tag);
    expect(pending, `jobs not final after ${JOBS_DEADLINE_MS} ms`).toEqual([]);

    // Every agent stops now; then, well past a lease, every answer must still be the same.
    await Promise.allSettled(stack.agents.map((agent) => agent.stop(5_000)));
    expect(stack.agents.filter((agent) => agent.running).map((agent) => agent.name)).toEqual([]);
    await sleep(4_000);

    const records: Build[] = [];
    const digests = new Map<string, string>();
    for (const job of jobs) {
      const final = finals.get(job.id)!;
      expectSuccess(final, job.tag);
      digests.set(job.id, final.digest!);
      expect((await stack.api.status(job.id)).body, job.tag).toEqual(final);
      const record = ok(await stack.api.build(job.id));
      expect(record, job.tag).toMatchObject({ id: job.id, state: "succeeded", digest: final.digest });
      expect(record.attempt, job.tag).toBeGreaterThanOrEqual(1);
      records.push(record);
    }
    expect(flips).toEqual([]);

    // The registry serves each tag under the reported digest, and that image holds the job's own file.
    for (const job of jobs) {
      const digest = digests.get(job.id)!;
      expect(await registryDigest(stack.registry.host, auth(), imageName(), job.tag), job.tag).toBe(digest);
      expect(await registryFile(stack.registry.host, auth(), imageName(), digest, "/unique.txt"), job.tag).toBe(job.content);
    }

    const reruns = records.reduce((sum, record) => sum + record.attempt, 0) - JOBS;
    const maxAttempt = Math.max(...records.map((record) => record.attempt));
    console.log(
      `[chaos] jobs=${JOBS} agents=${AGENTS} kills=${kills} re-runs=${reruns} max-attempt=${maxAttempt} wall=${(wallMs / 1000).toFixed(1)}s`,
    );
    // The chaos really happened: agents died while holding jobs.
    expect(kills).toBeGreaterThan(0);
    expect(reruns).toBeGreaterThan(0);
  });
});
