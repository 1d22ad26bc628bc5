/** Which agent may take which job, and why a queued job is still waiting. */
import { formatLabels, labelsMatch } from "../../shared/labels";
import type { AgentRecord, JobRecord } from "./store";

/** Whether the agent takes new work at all: not shutting down, not refusing, a slot free. */
export function hasFreeSlot(agent: AgentRecord): boolean {
  return !agent.draining && !agent.refusing && agent.running < agent.concurrency;
}

export function canTake(agent: AgentRecord, job: Pick<JobRecord, "labels">): boolean {
  return hasFreeSlot(agent) && labelsMatch(job.labels, agent.labels);
}

export interface Waiting {
  /** `unmatched`: no connected agent could ever build it; `busy`: one could, once a slot frees. */
  kind: "unmatched" | "busy";
  message: string;
}

export function waitingReason(job: Pick<JobRecord, "labels">, agents: readonly AgentRecord[]): Waiting {
  if (agents.length === 0) return { kind: "unmatched", message: "no build agent is connected" };
  const able = agents.filter((agent) => labelsMatch(job.labels, agent.labels));
  if (able.length === 0) {
    return { kind: "unmatched", message: `no connected build agent has the labels ${formatLabels(job.labels)}` };
  }
  if (able.every((agent) => agent.draining)) return { kind: "busy", message: "every agent that can build it is shutting down" };
  return { kind: "busy", message: "every agent that can build it is busy" };
}
