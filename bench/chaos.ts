/**
 * Chaos at scale: 200 real builds on 3 agents with 2 slots each, while a
 * random agent is killed (SIGKILL) every 2–4 s and replaced, and the Worker
 * (wrangler dev, the pool's storage kept) is killed once and started again.
 * Every build must end; none may be lost. The machinery is the chaos e2e
 * test's (harness/chaos.ts); the test runs 30 builds on single-slot agents
 * and checks each image's content, this counts outcomes at scale.
 *
 *   npx tsx bench/chaos.ts [--builds=200] [--deadline=420] [--json]
 *
 * Lost: not final by the deadline, or reported `success` while the registry
 * does not serve that tag under the reported digest. Attempts come from each
 * build's record; a kill costs the builds it held a lease's wait (3 s here).
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { ok } from "../harness/api";
import { agentChaos, pollUntilFinal } from "../harness/chaos";
import { registryDigest } from "../harness/registry-image";
import { startStack } from "../harness/stack";
import { isMain, main, numberOption, progress, seconds, type Options, type Row } from "./figure";

const AGENTS = 3;
const SLOTS = 2;
const REPO = "chaos-bench";

export async function run(options: Options = {}): Promise<Row[]> {
  const builds = numberOption(options, "builds", 200);
  const deadlineMs = numberOption(options, "deadline", 420) * 1000;
  const stack = await startStack({
    agents: 0,
    vars: { DOCKIFY_LEASE_SECONDS: "3", DOCKIFY_HEARTBEAT_SECONDS: "1", DOCKIFY_MAX_ATTEMPTS: "10", DOCKIFY_TENANT_MAX_QUEUED: String(builds) },
  });
  const auth = { username: stack.secrets.registryUser, password: stack.secrets.registryPassword };
  const image = `${stack.secrets.registryUser}/${REPO}`;
  try {
    const startedAt = Date.now();
    const chaos = agentChaos(stack, { slots: AGENTS, agent: { concurrency: SLOTS }, killEveryMs: [2_000, 4_000], maxMs: deadlineMs, prefix: "chaos-bench" });
    await chaos.ready;
    progress(`chaos: submitting ${builds} builds`);
    const tags = Array.from({ length: builds }, (_, index) => `build-${String(index).padStart(3, "0")}`);
    const ids: string[] = [];
    for (let index = 0; index < builds; index += 10) {
      const batch = tags.slice(index, index + 10).map(async (tag) => {
        const response = await stack.api.submitSeedBuild({
          query: { user_name: stack.secrets.registryUser, repo: REPO, tag, registry: stack.registry.host },
          fields: { password: stack.secrets.registryPassword },
          // A file of its own, so no build is a cache hit: each one really builds a layer and pushes it.
          dockerfile: `FROM ${stack.baseImage}\nCOPY unique.txt /unique.txt\n`,
          files: [{ name: "unique.txt", content: `${tag} ${randomUUID()}\n` }],
        });
        return ok(response, 200).task_id;
      });
      ids.push(...(await Promise.all(batch)));
    }

    progress("chaos: agents killed every 2–4 s; the Worker is killed once after 20 s");
    chaos.start();
    const workerRestart = (async () => {
      await sleep(20_000);
      const down = performance.now();
      await stack.worker.restart({ hard: true });
      return performance.now() - down;
    })();
    let kills: number;
    let polled: Awaited<ReturnType<typeof pollUntilFinal>>;
    try {
      polled = await pollUntilFinal(stack.api, ids, { deadlineMs, intervalMs: 2_000 });
    } finally {
      kills = await chaos.stop();
    }
    const restartMs = await workerRestart;
    const wallMs = Date.now() - startedAt;
    const { finals, flips } = polled;

    progress("chaos: checking records and the registry");
    let succeeded = 0;
    let failed = 0;
    let lost = 0;
    let attempts = 0;
    let maxAttempt = 0;
    const failures: string[] = [];
    for (const [index, id] of ids.entries()) {
      const final = finals.get(id);
      const record = ok(await stack.api.build(id));
      attempts += record.attempt;
      maxAttempt = Math.max(maxAttempt, record.attempt);
      if (!final) lost++;
      else if (final.status === "success") {
        const digest = await registryDigest(stack.registry.host, auth, image, tags[index]!);
        if (digest === final.digest) succeeded++;
        else lost++;
      } else {
        failed++;
        failures.push(`${tags[index]}: ${JSON.stringify(final)}`);
      }
    }
    if (failures.length > 0) progress(`chaos: failed builds:\n${failures.join("\n")}`);
    if (flips.length > 0) progress(`chaos: final answers that changed:\n${flips.join("\n")}`);
    return [
      {
        figure: `chaos: ${builds} builds, ${AGENTS} agents × ${SLOTS} slots, ${kills} agent kills, Worker killed once`,
        ours: `${succeeded} succeeded / ${failed} failed / ${lost} lost`,
        baseline: "-",
        ratio: `${seconds(wallMs)} wall`,
        note: `${attempts} attempts (${attempts - builds} re-runs, max ${maxAttempt} for one build); lease 3 s; the Worker was back in ${seconds(restartMs)}; ${flips.length} final answers changed`,
        data: { builds, agents: AGENTS, slots: SLOTS, kills, succeeded, failed, lost, attempts, maxAttempt, wallMs, workerRestartMs: restartMs, flips, failures },
      },
    ];
  } finally {
    await stack.stop();
  }
}

if (isMain(import.meta.url)) await main(run);
