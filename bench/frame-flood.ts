/**
 * API latency while one agent socket is flooded: `GET /v1/builds/{id}` one
 * call after another, first with nothing else going on (the baseline), then
 * while a rogue agent (a valid token) writes frames on its socket, `hello`
 * after `hello` and log batch after log batch, until the pool closes it.
 *
 *   npx tsx bench/frame-flood.ts [--frames=50000] [--json]
 */
import { ok } from "../harness/api";
import { FLOODS, floodAgentSocket, latenciesUntil } from "../harness/rogue-agent";
import { startStack } from "../harness/stack";
import { summarize } from "../harness/stats";
import { isMain, main, ms, numberOption, progress, seconds, type Options, type Row } from "./figure";

const QUIET_MS = 3_000;

export async function run(options: Options = {}): Promise<Row[]> {
  const frames = numberOption(options, "frames", 50_000);
  const stack = await startStack({ agents: 0 });
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
    progress("frame flood: quiet API latency");
    const quiet = summarize(await latenciesUntil(request, new Promise((resolve) => setTimeout(resolve, QUIET_MS))));
    const rows: Row[] = [];
    for (const kind of ["hello", "log"] as const) {
      progress(`frame flood: ${frames} ${kind} frames`);
      const started = performance.now();
      const flooding = floodAgentSocket({ url: stack.worker.url, token: stack.secrets.agentToken, frames, frame: FLOODS[kind] });
      const flooded = summarize(await latenciesUntil(request, flooding.then(({ closed }) => closed)));
      const { sentFrames, closed } = await flooding;
      const { code, reason } = await closed;
      const closedAfter = performance.now() - started;
      rows.push({
        figure: `GET /v1/builds/{id} while ${frames} ${kind} frames flood one socket`,
        ours: `p50 ${ms(flooded.p50)} / p99 ${ms(flooded.p99)}`,
        baseline: `p50 ${ms(quiet.p50)} / p99 ${ms(quiet.p99)} quiet`,
        ratio: `${(flooded.p99 / quiet.p99).toFixed(2)}x p99`,
        note: `the pool closed the socket (${code}) after ${seconds(closedAfter)}, ${sentFrames} frames written`,
        data: { kind, frames, sentFrames, closeCode: code, closeReason: reason, closedAfterMs: closedAfter, quiet, flooded },
      });
    }
    return rows;
  } finally {
    await stack.stop();
  }
}

if (isMain(import.meta.url)) await main(run);
