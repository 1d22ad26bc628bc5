/**
 * The dispatch policy as pure functions: which agent may take which job, which
 * queued job goes where, and why a job still waits. The pool feeds it rows and
 * carries out what it says; nothing here reads storage or the clock.
 */
import type { LastAgentState, Placement } from "../../shared/build-log";
import { formatLabels, labelsMatch, type Labels } from "../../shared/labels";
import { platformMatches } from "../../shared/platform";
import { DOCKERFILE_PATH } from "../../shared/context-path";
import { BUILD_OPTIONS_CAPABILITY, PAUSE_CAUSES } from "../../shared/protocol";
import type { AgentRecord, JobRecord } from "./records";

/**
 * What a job asks of the agent that builds it: every label it names, the platform when it names one, and an agent
 * that understands build options when it uses any (BUILD_OPTIONS_CAPABILITY).
 */
export interface Needs {
  labels: Labels;
  platform?: string;
  buildOptions?: boolean;
}

/** What dispatch needs to know of a queued job; `lastAgent` names the agent that last built its repository for its tenant. */
export type QueuedJob = Needs & Pick<JobRecord, "id" | "createdAt"> & { lastAgent?: string | null };

/** Whether the job asks for anything an agent released before build options would drop unread. */
function usesBuildOptions({ options, alsoPush, sealedCredentials }: Pick<JobRecord, "options" | "alsoPush" | "sealedCredentials">): boolean {
  return (
    Object.keys(options.buildArgs).length > 0 ||
    options.target !== undefined ||
    options.noCache ||
    options.platform !== undefined ||
    options.dockerfile !== DOCKERFILE_PATH ||
    alsoPush.length > 0 ||
    sealedCredentials !== null
  );
}

/** A job's needs, as its record holds them. */
export function needsOf(job: Pick<JobRecord, "labels" | "options" | "alsoPush" | "sealedCredentials">): Needs {
  return {
    labels: job.labels,
    ...(job.options.platform !== undefined && { platform: job.options.platform }),
    ...(usesBuildOptions(job) && { buildOptions: true }),
  };
}

/** Whether the agent can be handed what the job asks of its build. */
function understands(agent: AgentRecord, job: Needs): boolean {
  return !job.buildOptions || agent.capabilities.includes(BUILD_OPTIONS_CAPABILITY);
}

/** A job the policy gives to an agent, and why that one; the pool turns it into a lease and an `assign` message. */
export interface Pairing {
  jobId: string;
  agentId: string;
  placement: Placement;
}

/** Whether the agent takes new work at all: not shutting down, not paused, not refusing, a slot free. */
export function hasFreeSlot(agent: AgentRecord): boolean {
  return !agent.draining && agent.paused === null && !agent.refusing && agent.running < agent.concurrency;
}

/** Whether the agent could build the job at all, busy or not: every label it asks for, and its platform. */
export function suits(agent: AgentRecord, job: Needs): boolean {
  return labelsMatch(job.labels, agent.labels) && platformMatches(job.platform, agent.platform) && understands(agent, job);
}

export function canTake(agent: AgentRecord, job: Needs): boolean {
  return hasFreeSlot(agent) && suits(agent, job);
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

/** Why a job's last builder was passed over: paused, shutting down, every slot taken, unable to build it, or gone. */
function lastAgentState(name: string, agents: readonly AgentRecord[], job: Needs): LastAgentState {
  const named = agents.filter((agent) => agent.name === name);
  if (named.length === 0) return "disconnected";
  const able = named.filter((agent) => suits(agent, job));
  if (able.length === 0) return "unable";
  if (able.every((agent) => agent.paused !== null)) return "paused";
  if (able.every((agent) => agent.draining || agent.paused !== null)) return "draining";
  return "busy";
}

/**
 * Hands queued jobs, oldest first, each to an agent with a free slot, every label the job asks for and its
 * platform: the agent that last built the job's repository for its tenant when it is one of those (its build cache
 * is warm), else the least busy. Affinity only chooses among agents free now, so a job never waits for its last
 * agent, and a job no agent can take now is skipped, so it does not hold up younger jobs that others can take.
 */
export function plan(queued: readonly QueuedJob[], agents: readonly AgentRecord[]): Pairing[] {
  const load = [...agents].sort(byLoad).map((agent) => ({ ...agent }));
  const assignments: Pairing[] = [];
  for (const job of [...queued].sort(byAge)) {
    if (!load.some(hasFreeSlot)) break;
    const able = load.filter((candidate) => canTake(candidate, job));
    const last = job.lastAgent ?? null;
    const warm = last === null ? undefined : able.find((candidate) => candidate.name === last);
    const agent = warm ?? leastBusy(able);
    if (!agent) continue;
    const placement: Placement = warm
      ? { reason: "warm-cache" }
      : { reason: "least-busy", lastAgent: last === null ? null : { name: last, state: lastAgentState(last, load, job) } };
    agent.running += 1;
    assignments.push({ jobId: job.id, agentId: agent.id, placement });
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

/** The platforms agents build, each once, for a sentence: `linux/amd64, linux/arm64`. */
function platformsOf(agents: readonly AgentRecord[]): string {
  const platforms = [...new Set(agents.map((agent) => agent.platform ?? "an unknown platform (agents too old to say)"))];
  return platforms.join(", ");
}

/** Why a queued job waits in `pool`: named, since a tenant's agents may be connected to another pool. */
export function waitingReason(job: Needs, agents: readonly AgentRecord[], pool: string): Waiting {
  if (agents.length === 0) return { kind: "unmatched", message: `no build agent is connected to pool '${pool}'` };
  const labelled = agents.filter((agent) => labelsMatch(job.labels, agent.labels));
  if (labelled.length === 0) {
    return { kind: "unmatched", message: `no connected build agent of pool '${pool}' has the labels ${formatLabels(job.labels)}` };
  }
  const able = labelled.filter((agent) => platformMatches(job.platform, agent.platform));
  if (able.length === 0) {
    const which = Object.keys(job.labels).length > 0 ? ` with the labels ${formatLabels(job.labels)}` : "";
    return {
      kind: "unmatched",
      message: `no connected build agent of pool '${pool}' builds ${job.platform}: the agents${which} build ${platformsOf(labelled)}`,
    };
  }
  const understanding = able.filter((agent) => understands(agent, job));
  if (understanding.length === 0) {
    const versions = [...new Set(able.map((agent) => agent.version))].join(", ");
    return {
      kind: "unmatched",
      message:
        `no connected build agent of pool '${pool}' that could build it understands build options (build_arg, target, no_cache, ` +
        `platform, also_push, dockerfile, X-Registry-Logins, X-Build-Secrets): they run dockify-agent ${versions}, released before them; ` +
        `upgrade one`,
    };
  }
  if (understanding.every((agent) => agent.draining || agent.paused)) {
    const paused = understanding.filter((agent) => agent.paused && !agent.draining);
    if (paused.length > 0) return { kind: "paused", message: `every agent that can build it is paused: ${describePaused(paused)}` };
    return { kind: "busy", message: "every agent that can build it is shutting down" };
  }
  return { kind: "busy", message: "every agent that can build it is busy" };
}
