/**
 * API latency while one agent socket is flooded: `GET /v1/builds/{id}` one
 * call after another, first with nothing else going on, then while a rogue
 * agent (a valid token) writes 50,000 frames on its socket, `hello` after
 * `hello` and log batch after log batch, until the pool closes it.
 *
 *   npx tsx bench/frame-flood.ts [frames]
 */
import { ok } from "../harness/api";
import { FLOODS, floodAgentSocket, latenciesUntil, percentile } from "../harness/rogue-agent";
import { startStack } from "../harness/stack";

const frames = Number(process.argv[2] ?? 50_000);
const QUIET_MS = 3_000;

const stack = await startStack({ agents: 0 });

function summary(what: string, latencies: number[]): string {
  return `${what}: ${latencies.length} calls, p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms`;
}

try {
  const { task_id: id } = ok(
    await stack.api.submitSeedBuild({
      query: { user_name: stack.secrets.registryUser, repo: "bench", registry: stack.registry.host },
      dockerfile: "FROM scratch\n",
    }),
  );
  const request = async () => void ok(await stack.api.build(id), 200);
  // A warm-up: the first wrangler request compiles the Worker.
  await request();
  console.log(summary("quiet", await latenciesUntil(request, new Promise((resolve) => setTimeout(resolve, QUIET_MS)))));
  for (const kind of ["hello", "log"] as const) {
    const started = performance.now();
    const flooding = floodAgentSocket({ url: stack.worker.url, token: stack.secrets.agentToken, frames, frame: FLOODS[kind] });
    const latencies = await latenciesUntil(request, flooding.then(({ closed }) => closed));
    const { sentFrames, closed } = await flooding;
    const { code, reason } = await closed;
    console.log(summary(`${kind} flood`, latencies));
    console.log(`  ${sentFrames} frames written; closed after ${(performance.now() - started).toFixed(0)} ms with ${code} "${reason}"`);
  }
} finally {
  await stack.stop();
}
