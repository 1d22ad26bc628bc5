/**
 * Cold builds and warm rebuilds through Dockify (BuildKit agent), next to the
 * same builds done directly with the Engine's BuildKit and pushed (what
 * `DOCKER_BUILDKIT=1 docker build && docker push` does), on the same Engine
 * and registry, in one process.
 *
 *   npx tsx bench/warm-rebuild.ts [rounds]
 *
 * Each round, each side builds a Dockerfile of its own (a fresh marker in its
 * slow RUN step, so the first build is cold) and then rebuilds it with one
 * changed file (the slow step comes from the cache). Dockify goes from
 * POST /build to status `success` through the whole stack (Worker, pool,
 * agent); the direct side speaks to the Engine's API itself.
 */
import { randomUUID } from "node:crypto";
import { Readable } from "node:stream";
import Docker from "dockerode";
import { ok } from "../harness/api";
import { pushImage, readJsonStream, removeImage } from "../harness/docker";
import { contextTar } from "../harness/job-server";
import { startStack } from "../harness/stack";
import { BuildSession } from "../agent/builders/buildkit/session";
import { Logins } from "../agent/logins";

const rounds = Number(process.argv[2] ?? 5);
const docker = new Docker();

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const stack = await startStack();
const auth = { username: stack.secrets.registryUser, password: stack.secrets.registryPassword };
const dockerfile = (marker: string) => `FROM ${stack.baseImage}\nRUN sleep 1 && echo ${marker} > /heavy\nCOPY app.txt /app.txt\nRUN cat /app.txt\n`;

/** BuildKit through the Engine API with a session answering the registry login, then a push: the direct path. */
async function direct(marker: string, tag: string, content: string): Promise<number> {
  const reference = `${stack.registry.host}/alice/direct:${tag}`;
  const tar = await contextTar({ Dockerfile: dockerfile(marker), "app.txt": content });
  const started = performance.now();
  const session = await BuildSession.open(docker, { logins: new Logins([{ ...auth, serveraddress: stack.registry.host }]), secrets: new Map() }, new AbortController().signal);
  try {
    const stream = await new Promise<NodeJS.ReadableStream>((resolve, reject) =>
      docker.modem.dial(
        { path: "/build?", method: "POST", file: Readable.from([tar]), options: { version: "2", session: session.id, t: reference }, isStream: true, statusCodes: { 200: true, 500: "server error" } },
        (error: unknown, response: unknown) => (error ? reject(error) : resolve(response as NodeJS.ReadableStream)),
      ),
    );
    await readJsonStream(stream, `BuildKit build of ${reference}`);
  } finally {
    session.close();
  }
  await pushImage(reference, auth);
  const elapsed = performance.now() - started;
  await removeImage(reference);
  return elapsed;
}

async function viaDockify(marker: string, tag: string, content: string): Promise<number> {
  const started = performance.now();
  const accepted = await stack.api.submitSeedBuild({
    query: { user_name: "alice", repo: "dockify", tag, registry: stack.registry.host },
    fields: { password: auth.password },
    dockerfile: dockerfile(marker),
    files: [{ name: "app.txt", content }],
  });
  const id = ok(accepted, 200).task_id;
  // Every 10 ms, so the figure is not rounded up to a coarse polling step.
  const final = await stack.api.waitForStatus(id, { intervalMs: 10 });
  const elapsed = performance.now() - started;
  if (final.status !== "success") throw new Error(`build ${id} ended ${JSON.stringify(final)}`);
  return elapsed;
}

function line(label: string, values: number[]): string {
  return `  ${label.padEnd(34)}: ${median(values).toFixed(0)} ms (${Math.min(...values).toFixed(0)}-${Math.max(...values).toFixed(0)})`;
}

try {
  const results = { directCold: [] as number[], dockifyCold: [] as number[], directWarm: [] as number[], dockifyWarm: [] as number[] };
  // One warm-up of each, not counted: the first wrangler request compiles the Worker, the first pull fetches the base.
  await direct(randomUUID(), "warmup", randomUUID());
  await viaDockify(randomUUID(), "warmup", randomUUID());
  for (let round = 0; round < rounds; round++) {
    const markers = { direct: randomUUID(), dockify: randomUUID() };
    const cold = [
      async () => results.directCold.push(await direct(markers.direct, `c${round}`, randomUUID())),
      async () => results.dockifyCold.push(await viaDockify(markers.dockify, `c${round}`, randomUUID())),
    ];
    const warm = [
      async () => results.directWarm.push(await direct(markers.direct, `w${round}`, randomUUID())),
      async () => results.dockifyWarm.push(await viaDockify(markers.dockify, `w${round}`, randomUUID())),
    ];
    // Alternate the order so neither side always runs on a warmer machine.
    for (const pair of [cold, warm]) {
      if (round % 2) pair.reverse();
      for (const run of pair) await run();
    }
  }
  const ratio = (a: number[], b: number[]) => (median(a) / median(b)).toFixed(2);
  console.log(`cold build and warm rebuild (one changed file) + push, ${rounds} rounds (median, min-max):`);
  console.log(line("direct BuildKit build + push, cold", results.directCold));
  console.log(line("Dockify POST /build → success, cold", results.dockifyCold));
  console.log(line("direct BuildKit build + push, warm", results.directWarm));
  console.log(line("Dockify POST /build → success, warm", results.dockifyWarm));
  console.log(`  ratio Dockify / direct, cold       : ${ratio(results.dockifyCold, results.directCold)}x`);
  console.log(`  ratio Dockify / direct, warm       : ${ratio(results.dockifyWarm, results.directWarm)}x`);
  console.log(`  warm / cold, direct / Dockify      : ${ratio(results.directWarm, results.directCold)}x / ${ratio(results.dockifyWarm, results.dockifyCold)}x`);
} finally {
  await stack.stop();
}
