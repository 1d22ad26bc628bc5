/**
 * Submission throughput: concurrent `POST /v1/builds` of one small context
 * (3 KiB) into one pool for a fixed time, driven by autocannon, with no agent
 * connected (every build stays queued: the figure is accepting builds, not
 * running them). The baseline is the same load of `GET /v1/builds/{id}`: the
 * same Worker, token check and pool round trip, without storing a context or a
 * job. CPU shares of workerd, wrangler dev's proxy (node) and this process
 * (autocannon) over the run say what limits it.
 *
 *   npx tsx bench/submission-throughput.ts [--seconds=10] [--connections=10] [--json]
 *
 * DOCKIFY_TENANT_MAX_QUEUED is raised for the run so no answer is a 429;
 * every answer other than 202 is counted and reported.
 */
import { ok } from "../harness/api";
import { cpuSeconds } from "../harness/cpu";
import { treePeaks } from "../harness/memory";
import { startStack } from "../harness/stack";
import { isMain, main, ms, numberOption, progress, type Options, type Row } from "./figure";
import { getPath, postBuilds, smallContext, type LoadResult } from "./load";

/** Room for every build a run can submit: ten seconds at thousands a second. */
const MAX_QUEUED = 1_000_000;

function errorsOf(result: LoadResult): string {
  const refused = Object.entries(result.refused).map(([status, count]) => `${count}× ${status}`);
  return refused.length === 0 && result.errors === 0 ? "0 errors" : `errors: ${[...refused, `${result.errors} connection`].join(", ")}`;
}

export async function run(options: Options = {}): Promise<Row[]> {
  const durationS = numberOption(options, "seconds", 10);
  const connections = numberOption(options, "connections", 10);
  const stack = await startStack({ agents: 0, vars: { DOCKIFY_TENANT_MAX_QUEUED: String(MAX_QUEUED) } });
  try {
    const tar = await smallContext();
    const { id } = ok(await stack.api.submitTarball(tar, { user_name: "bench", repo: "load", registry: stack.registry.host }), 202);
    // Warm-up, not counted: the first requests compile the Worker and wake the pool.
    await postBuilds(stack, tar, { connections, amount: 50 });
    await getPath(stack, `/v1/builds/${id}`, { connections, amount: 50 });

    const tree = treePeaks(stack.worker.process.pid);
    const workerd = tree.filter((entry) => entry.command === "workerd").map((entry) => entry.pid);
    const proxy = tree.filter((entry) => entry.command !== "workerd").map((entry) => entry.pid);
    const shares = async (work: () => Promise<LoadResult>) => {
      const before = [cpuSeconds(workerd), cpuSeconds(proxy), cpuSeconds([process.pid])];
      const result = await work();
      const after = [cpuSeconds(workerd), cpuSeconds(proxy), cpuSeconds([process.pid])];
      const [w, p, a] = after.map((value, index) => (value - before[index]!) / result.durationS);
      return { result, cpu: { workerd: w!, proxy: p!, autocannon: a! } };
    };

    progress(`submission throughput: GET /v1/builds/{id}, ${connections} connections, ${durationS} s (baseline)`);
    const baseline = await shares(() => getPath(stack, `/v1/builds/${id}`, { connections, durationS }));
    progress(`submission throughput: POST /v1/builds, ${connections} connections, ${durationS} s`);
    const ours = await shares(() => postBuilds(stack, tar, { connections, durationS }));
    const percent = (share: number) => `${(share * 100).toFixed(0)}%`;
    const cpu = ({ workerd: w, proxy: p, autocannon: a }: { workerd: number; proxy: number; autocannon: number }) =>
      `CPU: workerd ${percent(w)}, wrangler proxy ${percent(p)}, autocannon ${percent(a)} of a core`;
    return [
      {
        figure: `POST /v1/builds, 3 KiB context, ${connections} connections, ${durationS} s`,
        ours: `${ours.result.perSecond.toFixed(0)} req/s, p99 ${ms(ours.result.p99Ms)}, ${errorsOf(ours.result)}`,
        baseline: `${baseline.result.perSecond.toFixed(0)} req/s, p99 ${ms(baseline.result.p99Ms)} (GET /v1/builds/{id})`,
        ratio: `${(ours.result.perSecond / baseline.result.perSecond).toFixed(2)}x req/s`,
        note: `${cpu(ours.cpu)} (GET: ${cpu(baseline.cpu)})`,
        data: { connections, durationS, post: ours, get: baseline },
      },
    ];
  } finally {
    await stack.stop();
  }
}

if (isMain(import.meta.url)) await main(run);
