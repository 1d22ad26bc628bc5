/**
 * Dispatch latency: from the pool accepting a build (the moment it stores the
 * job: the record's `created_at`, the pool's clock) to an agent holding its
 * assignment (the moment the `assign` frame is parsed on the agent's side,
 * this process's clock: the same machine's), with 1 and with 50 connected
 * agents, builds submitted one after another with `POST /v1/builds`.
 *
 *   npx tsx bench/dispatch-latency.ts [--samples=40] [--agents=1,50] [--json]
 *
 * The agents are bench/load-agent.ts (the real protocol over the real
 * agent's socket, no builds): idle until assigned, and free again at once,
 * so what is measured is the pool choosing an agent and the frame reaching
 * it, not a build. The 50-agent row's baseline is the 1-agent row.
 */
import type { Assignment } from "../shared/protocol";
import { ok } from "../harness/api";
import { contextTar } from "../harness/job-server";
import { startStack, type Stack } from "../harness/stack";
import { summarize, type Summary } from "../harness/stats";
import { isMain, main, ms, numberOption, progress, type Options, type Row } from "./figure";
import { startLoadAgents } from "./load-agent";

const WARMUP = 3;

async function measure(stack: Stack, agentCount: number, samples: number): Promise<Summary> {
  const waiting = new Map<string, (receivedAt: number) => void>();
  const early = new Map<string, number>();
  const onAssign = (assignment: Assignment, receivedAt: number) => {
    const resolve = waiting.get(assignment.jobId);
    if (resolve) resolve(receivedAt);
    // The frame can arrive before POST's answer does: the pool dispatches before it replies.
    else early.set(assignment.jobId, receivedAt);
  };
  const agents = await startLoadAgents(agentCount, { url: stack.worker.url, token: stack.secrets.agentToken, prefix: `dispatch-${agentCount}`, onAssign });
  const tar = await contextTar({ Dockerfile: "FROM scratch\nCOPY app.txt /app.txt\n", "app.txt": "bench\n" });
  const latencies: number[] = [];
  try {
    for (let index = 0; index < WARMUP + samples; index++) {
      const build = ok(await stack.api.submitTarball(tar, { user_name: "bench", repo: "dispatch", tag: `n${agentCount}-${index}`, registry: stack.registry.host }), 202);
      const receivedAt =
        early.get(build.id) ??
        (await new Promise<number>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`build ${build.id} was not assigned within 30 s`)), 30_000);
          waiting.set(build.id, (at) => {
            clearTimeout(timer);
            resolve(at);
          });
        }));
      if (index >= WARMUP) latencies.push(receivedAt - Date.parse(build.created_at));
    }
  } finally {
    await Promise.all(agents.map((agent) => agent.close()));
  }
  const over = agents.reduce((sum, agent) => sum + agent.overAssigned, 0);
  if (over > 0) throw new Error(`the pool assigned ${over} builds to agents with no free slot`);
  return summarize(latencies);
}

export async function run(options: Options = {}): Promise<Row[]> {
  const samples = numberOption(options, "samples", 40);
  const counts = typeof options.agents === "string" ? options.agents.split(",").map(Number) : [1, 50];
  const stack = await startStack({ agents: 0 });
  try {
    const results: Array<{ agents: number; summary: Summary }> = [];
    for (const agents of counts) {
      progress(`dispatch latency with ${agents} agent(s), ${samples} builds`);
      results.push({ agents, summary: await measure(stack, agents, samples) });
    }
    const first = results[0]!;
    return results.map(({ agents, summary }) => ({
      figure: `dispatch latency, ${agents} agent${agents === 1 ? "" : "s"} (accept → assignment held, n=${summary.count})`,
      ours: `p50 ${ms(summary.p50)} / p99 ${ms(summary.p99)}`,
      baseline: agents === first.agents ? "-" : `p50 ${ms(first.summary.p50)} (${first.agents} agent)`,
      ratio: agents === first.agents ? "ms" : `${(summary.p50 / first.summary.p50).toFixed(2)}x p50`,
      note: "load-generator agents (bench/load-agent.ts); the job's created_at to the assign frame parsed; clocks of one machine, 1 ms resolution",
      data: { agents, ...summary },
    }));
  } finally {
    await stack.stop();
  }
}

if (isMain(import.meta.url)) await main(run);
