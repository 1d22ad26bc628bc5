/**
 * The dispatch policy as pure functions: which agent may take which job, which
 * queued job goes where, and why a job still waits. The pool feeds it rows and
 * carries out what it says; nothing here reads storage or the clock.
 */
import { formatLabels, labelsMatch } from "../../shared/labels";
import { PAUSE_CAUSES } from "../../shared/protocol";
import type { AgentRecord, JobRecord } from "./records";

/** What dispatch needs to know of a queued job. */
export type QueuedJob = Pick<JobRecord, "id" | "labels" | "createdAt">;

/** A job the policy gives to an agent; the pool turns it into a lease and an `assign` message. */
export interface Pairing {
  jobId: string;
  agentId: string;
}

/** Whether the agent takes new work at all: not shutting down, not paused, not refusing, a slot free. */
export function hasFreeSlot(agent: AgentRecord): boolean {
  return !agent.draining && agent.paused === null && !agent.refusing && agent.running < agent.concurrency;
}

export function canTake(agent: AgentRecord, job: Pick<JobRecord, "labels">): boolean {
  return hasFreeSlot(agent) && labelsMatch(job.labels, agent.labels);
}

/** Oldest first; the id breaks ties so the order never depends on how rows came back. */
function byAge(a: QueuedJob, b: QueuedJob): number {
  return a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** How busy an agent was when the round began; of equally busy ones, the one connected longest comes first. */
function byLoad(a: AgentRecord, b: AgentRecord): number {
  return a.running - b.running || a.connectedAt - b.connectedAt;
}

/** The least busy agent; a tie goes to the one first in `agents`, which `plan` keeps in its starting order. */
function leastBusy(agents: readonly AgentRecord[]): AgentRecord | undefined {
  return agents.reduce<AgentRecord | undefined>((best, agent) => (!best || agent.running < best.running ? agent : best), undefined);
}

/**
 * Hands queued jobs, oldest first, each to the least busy agent with a free slot
 * and every label the job asks for. A job no agent can take now is skipped, so
 * it does not hold up younger jobs that others can take.
 */
export function plan(queued: readonly QueuedJob[], agents: readonly AgentRecord[]): Pairing[] {
  const load = [...agents].sort(byLoad).map((agent) => ({ ...agent }));
  const assignments: Pairing[] = [];
  for (const job of [...queued].sort(byAge)) {
    if (!load.some(hasFreeSlot)) break;
    const agent = leastBusy(load.filter((candidate) => canTake(candidate, job)));
    if (!agent) continue;
    agent.running += 1;
    assignments.push({ jobId: job.id, agentId: agent.id });
  }
  return assignments;
}

export interface Waiting {
  /**
   * `unmatched`: no connected agent could ever build it; `paused`: every one that could is paused until its operator
   * or its host acts (disk space returns); `busy`: one could, once a slot frees.
   */
  kind: "unmatched" | "paused" | "busy";
  message: string;
}

/** Paused agents named in one waiting reason; the rest are counted, so the sentence stays short with a large fleet. */
const MAX_PAUSED_NAMED = 3;

/** `low disk on builder-1 (…); low disk on builder-2 (…) and 3 more`. */
function describePaused(agents: readonly AgentRecord[]): string {
  const named = agents.slice(0, MAX_PAUSED_NAMED).map(({ name, paused }) => `${PAUSE_CAUSES[paused!.cause]} on ${name} (${paused!.detail})`);
  const more = agents.length - named.length;
  return named.join("; ") + (more > 0 ? ` and ${more} more` : "");
}

/** Why a queued job waits in `pool`: named, since a tenant's agents may be connected to another pool. */
export function waitingReason(job: Pick<JobRecord, "labels">, agents: readonly AgentRecord[], pool: string): Waiting {
  if (agents.length === 0) return { kind: "unmatched", message: `no build agent is connected to pool '${pool}'` };
  const able = agents.filter((agent) => labelsMatch(job.labels, agent.labels));
  if (able.length === 0) {
    return { kind: "unmatched", message: `no connected build agent of pool '${pool}' has the labels ${formatLabels(job.labels)}` };
  }
  if (able.every((agent) => agent.draining || agent.paused)) {
    const paused = able.filter((agent) => agent.paused && !agent.draining);
    if (paused.length > 0) return { kind: "paused", message: `every agent that can build it is paused: ${describePaused(paused)}` };
    return { kind: "busy", message: "every agent that can build it is shutting down" };
  }
  return { kind: "busy", message: "every agent that can build it is busy" };
}
