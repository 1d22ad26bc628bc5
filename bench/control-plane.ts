/**
 * Control-plane capacity of one pool Durable Object: 5,000 builds queued (by
 * autocannon, no agent connected), then 200 agent connections at once, each
 * with one slot, each reporting every assignment `succeeded` the moment it
 * holds it. Measured: assignments per second while the queue drains, the
 * time to drain it, and the Worker process's memory (workerd's resident set:
 * before, with the queue full, and its peak).
 *
 *   npx tsx bench/control-plane.ts [--builds=5000] [--agents=200] [--timeout=1200] [--json]
 *
 * `--timeout` bounds the drain in seconds from the agents' start (npm run bench
 * gives it 60): a drain cut short is reported as such, with what it reached.
 *
 * The agents are bench/load-agent.ts, a load generator speaking the real
 * protocol (no builds): the figure is the pool's own work (choose an agent,
 * lease, log the assignment, send it; take the result, record it), not
 * Docker's. In production each pool's object runs on one thread of its own;
 * here the whole Worker runs in one local workerd, so the figure is a floor.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { ok } from "../harness/api";
import { treePeaks, type ProcessPeak } from "../harness/memory";
import { startStack } from "../harness/stack";
import { isMain, main, size, numberOption, progress, seconds, type Options, type Row } from "./figure";
import { startLoadAgents, type LoadAgent } from "./load-agent";
import { postBuilds, smallContext } from "./load";

function workerd(pid: number): ProcessPeak[] {
  return treePeaks(pid).filter((entry) => entry.command === "workerd");
}
const resident = (peaks: ProcessPeak[]) => peaks.reduce((sum, entry) => sum + entry.residentBytes, 0);
const peak = (peaks: ProcessPeak[]) => peaks.reduce((sum, entry) => sum + entry.peakBytes, 0);

export async function run(options: Options = {}): Promise<Row[]> {
  const builds = numberOption(options, "builds", 5_000);
  const agentCount = numberOption(options, "agents", 200);
  const timeoutMs = numberOption(options, "timeout", 1200) * 1000;
  const stack = await startStack({ agents: 0, vars: { DOCKIFY_TENANT_MAX_QUEUED: String(builds) } });
  let agents: LoadAgent[] = [];
  try {
    const tar = await smallContext();
    ok(await stack.api.queue());
    const idle = workerd(stack.worker.process.pid);

    progress(`control plane: queueing ${builds} builds`);
    const queueing = performance.now();
    const submitted = await postBuilds(stack, tar, { connections: 10, amount: builds });
    const queuedMs = performance.now() - queueing;
    if (submitted.errors > 0 || Object.keys(submitted.refused).length > 0) {
      throw new Error(`queueing ${builds} builds: ${JSON.stringify(submitted.refused)} refused, ${submitted.errors} connection errors`);
    }
    const waiting = ok(await stack.api.queue()).waiting;
    if (waiting !== builds) throw new Error(`${waiting} builds wait, expected ${builds}`);
    const full = workerd(stack.worker.process.pid);

    progress(`control plane: ${agentCount} agents draining ${builds} builds`);
    const assignedAt: number[] = [];
    const started = Date.now();
    agents = await startLoadAgents(agentCount, {
      url: stack.worker.url,
      token: stack.secrets.agentToken,
      prefix: "capacity",
      onAssign: (_, receivedAt) => void assignedAt.push(receivedAt),
    });
    const connectedMs = Date.now() - started;
    const deadline = started + timeoutMs;
    while (assignedAt.length < builds && Date.now() < deadline) await sleep(100);
    const drained = assignedAt.length >= builds;
    const drainedMs = drained ? Math.max(...assignedAt) - started : Date.now() - started;
    const assigned = assignedAt.length;
    const after = workerd(stack.worker.process.pid);
    const over = agents.reduce((sum, agent) => sum + agent.overAssigned, 0);
    if (over > 0) throw new Error(`the pool assigned ${over} builds to agents with no free slot`);
    // Asked after the clock stopped: the pool answers it between assignments.
    const left = ok(await stack.api.queue()).waiting;

    // Assignments per second over the drain, and the best single second.
    const perSecond = assigned / (drainedMs / 1000);
    const buckets = new Map<number, number>();
    for (const at of assignedAt.slice(0, assigned)) buckets.set(Math.floor((at - started) / 1000), (buckets.get(Math.floor((at - started) / 1000)) ?? 0) + 1);
    const best = Math.max(0, ...buckets.values());
    return [
      {
        figure: `control plane: ${builds} queued builds, ${agentCount} agent connections, one pool`,
        ours: drained
          ? `${perSecond.toFixed(0)} assignments/s, drained in ${seconds(drainedMs)}`
          : `${assigned} of ${builds} assigned in ${seconds(drainedMs)} (${perSecond.toFixed(1)}/s; the drain would take ~${seconds(builds / perSecond * 1000)})`,
        baseline: `queued at ${(builds / (queuedMs / 1000)).toFixed(0)} req/s`,
        ratio: `best second ${best}/s`,
        note:
          `workerd RSS ${size(resident(idle))} idle, ${size(resident(full))} with ${builds} queued, peak ${size(peak(after))}; ` +
          `${agentCount} agents welcomed in ${seconds(connectedMs)}; ${left} still queued at the end`,
        data: {
          builds,
          agents: agentCount,
          queuedMs,
          connectedMs,
          drainedMs,
          assigned,
          assignmentsPerSecond: perSecond,
          bestSecond: best,
          stillQueued: left,
          workerdResidentBytes: { idle: resident(idle), queued: resident(full), after: resident(after) },
          workerdPeakBytes: peak(after),
        },
      },
    ];
  } finally {
    await Promise.all(agents.map((agent) => agent.close()));
    await stack.stop();
  }
}

if (isMain(import.meta.url)) await main(run);
