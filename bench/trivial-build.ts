/**
 * How long a trivial build takes through Dockify, from POST /build to status
 * `success`, next to the same build and push done directly against the same
 * Docker Engine and registry (`docker build && docker push`), in one process.
 *
 *   npx tsx bench/trivial-build.ts [rounds]
 *
 * Each round uses fresh file content, so neither side gets a layer-cache hit.
 */
import { randomUUID } from "node:crypto";
import { ok } from "../harness/api";
import { buildFromFiles, pushImage, removeImage } from "../harness/docker";
import { startStack } from "../harness/stack";

const rounds = Number(process.argv[2] ?? 10);
const DOCKERFILE = "FROM scratch\nCOPY app.txt /app.txt\n";

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const stack = await startStack();
const auth = { username: stack.secrets.registryUser, password: stack.secrets.registryPassword };

async function direct(tag: string, content: string): Promise<number> {
  const reference = `${stack.registry.host}/alice/direct:${tag}`;
  const started = performance.now();
  await buildFromFiles(reference, { Dockerfile: DOCKERFILE, "app.txt": content });
  await pushImage(reference, auth);
  const elapsed = performance.now() - started;
  await removeImage(reference);
  return elapsed;
}

async function viaDockify(tag: string, content: string): Promise<number> {
  const query = { user_name: "alice", repo: "dockify", tag, registry: stack.registry.host };
  const started = performance.now();
  const accepted = await stack.api.submitSeedBuild({
    query,
    fields: { password: auth.password },
    dockerfile: DOCKERFILE,
    files: [{ name: "app.txt", content }],
  });
  const id = ok(accepted, 200).task_id;
  // Every 10 ms, so the figure is not rounded up to a coarse polling step.
  const final = await stack.api.waitForStatus(id, { intervalMs: 10 });
  const elapsed = performance.now() - started;
  if (final.status !== "success") throw new Error(`build ${id} ended ${JSON.stringify(final)}`);
  return elapsed;
}

try {
  const directMs: number[] = [];
  const dockifyMs: number[] = [];
  // One warm-up of each, not counted: the first wrangler request compiles the Worker.
  await direct("warmup", randomUUID());
  await viaDockify("warmup", randomUUID());
  for (let round = 0; round < rounds; round++) {
    // Alternate the order so neither side always runs on a warmer machine.
    const pair = [() => direct(`r${round}`, randomUUID()), () => viaDockify(`r${round}`, randomUUID())] as const;
    if (round % 2) {
      dockifyMs.push(await pair[1]());
      directMs.push(await pair[0]());
    } else {
      directMs.push(await pair[0]());
      dockifyMs.push(await pair[1]());
    }
  }
  const d = median(directMs);
  const k = median(dockifyMs);
  console.log(`trivial build + push, ${rounds} rounds (median, min-max):`);
  console.log(`  docker build && docker push : ${d.toFixed(0)} ms (${Math.min(...directMs).toFixed(0)}-${Math.max(...directMs).toFixed(0)})`);
  console.log(`  Dockify POST /build → success: ${k.toFixed(0)} ms (${Math.min(...dockifyMs).toFixed(0)}-${Math.max(...dockifyMs).toFixed(0)})`);
  console.log(`  ratio Dockify / direct       : ${(k / d).toFixed(2)}x (+${(k - d).toFixed(0)} ms)`);
} finally {
  await stack.stop();
}
