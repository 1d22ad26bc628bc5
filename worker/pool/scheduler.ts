/**
 * How jobs move inside the pool: every change to a job goes through `apply`
 * (load the job, run the state machine, tell the agent, record what it says),
 * and `dispatch` hands queued jobs to agents as the policy in dispatch.ts says.
 * The Durable Object changes jobs only through these.
 */
import { MAX_ASSIGNMENT_BYTES, type HeldJob, type PoolMessageToSend } from "../../shared/protocol";
import { authServerAddress, formatReference, type ImageName } from "../../shared/reference";
import { deleteContext } from "../context/store";
import type { Env } from "../env";
import type { Settings } from "../settings";
import { rearm, type DueTime } from "./alarm";
import { COUNTERS, HISTOGRAMS, type Counters } from "./counters";
import type { WebhookDeliveries } from "./deliveries";
import { hasFreeSlot, needsOf, plan } from "./dispatch";
import { openCredentials, openPassword, Scrubbers, type JobCredentials } from "./job-secret";
import type { Uploads } from "./uploads";
import { transition, type JobEvent, type Transition } from "./jobs";
import { leaseHash, newLeaseToken } from "./leases";
import type { BuildLogs } from "./log";
import type { JobRecord } from "./records";
import { sendTo } from "./sockets";
import type { PoolStore } from "./store";

/** Why the pool tells an agent to stop a job. */
export const STOP = {
  user: "canceled by the user",
  notYours: "this job is no longer assigned to you",
  leaseExpired: "your lease on this job expired",
} as const;
type StopReason = (typeof STOP)[keyof typeof STOP];

/** A change `apply` made: the job as it was before, and what the state machine said. */
export interface Applied {
  job: JobRecord;
  result: Extract<Transition, { ok: true }>;
}

/** An image as the assignment names it. */
/** The references a job pushes, its own first, then each also_push: what its agent's success must list. */
export function pushTargets(job: Pick<JobRecord, "registry" | "path" | "tag" | "alsoPush">): string[] {
  return [formatReference(job), ...job.alsoPush.map(formatReference)];
}

function assignedImage(image: ImageName) {
  return { registry: image.registry, path: image.path, tag: image.tag, reference: formatReference(image) };
}

/**
 * The scope of a tenant's cache mounts (`RUN --mount=type=cache`): the agent namespaces every cache mount of the
 * build by it, so a tenant's builds share their cache mounts and never see another tenant's. A hash, since a
 * tenant's name may hold characters the scope may not, and need not be told to the agent.
 */
export async function cacheScopeOf(tenant: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`dockify-cache-scope:${tenant}`));
  return [...new Uint8Array(digest).slice(0, 16)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** An assignment made and not yet sent: the lease token goes to the agent and nowhere else. */
interface Assigned {
  jobId: string;
  agentId: string;
  attempt: number;
  leaseToken: string;
}

/** Whom a change obliges the pool to tell to stop the job, and why; null when nobody. */
function stopOrder(job: JobRecord, event: JobEvent, result: Applied["result"]): { agentId: string; reason: StopReason } | null {
  switch (event.type) {
    case "cancel":
      return job.agentId && !result.end ? { agentId: job.agentId, reason: STOP.user } : null;
    case "leaseExpired":
      return job.agentId ? { agentId: job.agentId, reason: STOP.leaseExpired } : null;
    case "renew":
      // Said again with every heartbeat (a renewal that proves the lease) until the agent confirms: a cancel sent
      // into a dropped socket is not lost. A log batch renews too, but says nothing: once a heartbeat is enough.
      return event.leaseHash !== undefined && result.lease.cancelRequested ? { agentId: event.agentId, reason: STOP.user } : null;
    default:
      return null;
  }
}

export class Scheduler {
  /** Every kind of work the alarm wakes the pool for. */
  private readonly dueTimes: readonly DueTime[];
  /** What redacts a running job's secrets from what its agent sends (job-secret.ts); each dropped when its job ends. */
  readonly scrubbers: Scrubbers;

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly env: Env,
    private readonly store: PoolStore,
    private readonly logs: BuildLogs,
    private readonly config: Settings,
    private readonly counters: Counters,
    private readonly deliveries: WebhookDeliveries,
    uploads: Pick<Uploads, "earliestDue">,
  ) {
    this.scrubbers = new Scrubbers(env);
    this.dueTimes = [() => store.earliestLeaseExpiry(), () => deliveries.nextDue(), () => uploads.earliestDue()];
  }

  /**
   * The one way a job changes: load it, run the state machine, tell the agent to
   * stop when the change means that, and record what it says (an end also wipes
   * the secret, archives the log and drops the context). Null when the job is
   * unknown or the event is ignored (fencing).
   */
  async apply(jobId: string, event: JobEvent, now = Date.now()): Promise<Applied | null> {
    const job = this.store.job(jobId);
    if (!job) return null;
    const result = transition(job, event);
    if (!result.ok) return null;
    const stop = stopOrder(job, event, result);
    if (stop) this.tellToStop(stop.agentId, job.id, job.attempt, stop.reason);
    if (!result.end) {
      this.store.saveLease(job.id, result.lease, now);
      return { job, result };
    }
    this.store.saveEnd(job.id, result.lease, result.end, now);
    this.scrubbers.drop(job.id);
    // A BuildKit agent's cache now holds this repository's layers: the next build of it goes there when it can
    // (dispatch.ts). A classic builder's is not kept, so it is not remembered.
    const builtOn = result.lease.state === "succeeded" && job.agentId ? this.store.warmCacheAgentName(job.agentId) : null;
    if (builtOn) this.store.rememberBuilder(job, builtOn, now);
    this.counters.add(COUNTERS.finished, { state: result.lease.state });
    if (job.startedAt !== null) this.counters.observe(HISTOGRAMS.duration, (now - job.startedAt) / 1000);
    // Only recorded here; it is sent from the alarm, outside this change (deliveries.ts).
    if (this.deliveries.create(job, now)) await this.rearm();
    // The end is recorded; R2 trouble must not undo it or stop dispatching.
    await this.logs.archive(job.id);
    try {
      await deleteContext(this.env.BUCKET, job.contextKey);
    } catch (error) {
      console.error(`job ${job.id}: could not delete its context from R2: ${String(error)}`);
    }
    return { job, result };
  }

  /** Extends the leases an agent proves it holds (with each lease's token); tells it to drop any it no longer does. */
  async renewHoldings(agentId: string, holding: readonly HeldJob[], now: number): Promise<void> {
    for (const { jobId, attempt, leaseToken } of holding) {
      const proven = await this.apply(jobId, { type: "renew", agentId, attempt, now, leaseMs: this.config.leaseMs, leaseHash: leaseHash(leaseToken) });
      if (!proven) this.tellToStop(agentId, jobId, attempt, STOP.notYours);
    }
  }

  /**
   * The agent did not take the assignment, or gave it back: the job goes back to the queue at once (to another agent),
   * or ends at step `agent` on its last attempt, and the agent gets nothing more until its next heartbeat says what it
   * runs. `reason` is already scrubbed.
   */
  async refused(agentId: string, jobId: string, attempt: number, reason: string, givenBack: boolean): Promise<void> {
    const applied = await this.apply(jobId, { type: "refused", agentId, attempt, reason, maxAttempts: this.config.maxAttempts, givenBack });
    if (!applied) return;
    this.store.setRefusing(agentId, true);
    this.counters.add(COUNTERS.agentRefusals);
    if (!applied.result.end) this.logs.append(jobId, [{ event: { type: "refused", attempt: applied.job.attempt, reason } }]);
    await this.dispatch();
  }

  /** Re-queues or ends the jobs whose lease ran out, then hands out what that freed. */
  async expireLeases(now: number): Promise<void> {
    for (const id of this.store.expiredLeases(now)) {
      const applied = await this.apply(id, { type: "leaseExpired", now, maxAttempts: this.config.maxAttempts });
      if (applied) this.counters.add(COUNTERS.leaseExpiries);
      if (applied && !applied.result.end) this.logs.append(id, [{ event: { type: "lease-expired", attempt: applied.job.attempt } }]);
    }
    await this.dispatch();
  }

  /** Hands queued jobs to agents as the dispatch policy says, re-arms the alarm for the new leases, then sends the assignments. */
  async dispatch(): Promise<void> {
    const now = Date.now();
    const agents = this.store.agents();
    // Heartbeats dispatch too: with every slot busy, the queue is not even read.
    const queued = agents.some(hasFreeSlot) ? this.store.queuedJobs() : [];
    const planned = plan(
      queued.map((job) => ({ id: job.id, createdAt: job.createdAt, lastAgent: job.lastAgent, ...needsOf(job) })),
      agents,
    );
    const names = new Map(agents.map((agent) => [agent.id, agent.name]));
    const assigned: Assigned[] = [];
    for (const { jobId, agentId, placement } of planned) {
      const leaseToken = newLeaseToken();
      const applied = await this.apply(jobId, { type: "assign", agentId, now, leaseMs: this.config.leaseMs, leaseHash: leaseHash(leaseToken) });
      if (!applied) continue;
      const { attempt } = applied.result.lease;
      if (this.store.markStarted(jobId, now)) this.counters.observe(HISTOGRAMS.timeToStart, (now - applied.job.createdAt) / 1000);
      this.logs.append(jobId, [{ event: { type: "assigned", attempt, agent: names.get(agentId) ?? agentId, placement } }]);
      assigned.push({ jobId, agentId, attempt, leaseToken });
    }
    await this.rearm();
    let freed = false;
    for (const assignment of assigned) {
      if (!(await this.send(assignment))) freed = true;
    }
    // A job that ended instead of being sent freed its slot for the next one in the queue.
    if (freed) await this.dispatch();
  }

  rearm(): Promise<void> {
    return rearm(this.ctx.storage, this.dueTimes);
  }

  private tellToStop(agentId: string, jobId: string, attempt: number, reason: StopReason): void {
    sendTo(this.ctx, agentId, { type: "cancel", jobId, attempt, reason });
  }

  /** Sends the assignment; false when the job had to end instead (its secrets no longer open). */
  private async send({ jobId, agentId, attempt, leaseToken }: Assigned): Promise<boolean> {
    const job = this.store.job(jobId)!;
    let password: string | undefined;
    let credentials: JobCredentials;
    try {
      password = await openPassword(this.env, job);
      credentials = await openCredentials(this.env, job);
    } catch (error) {
      // The key changed past DOCKIFY_SECRET_KEY_PREVIOUS while the job waited: say so rather than push without a login.
      const message = error instanceof Error ? error.message : String(error);
      await this.apply(jobId, { type: "fail", step: "push", error: `${message}; submit the build again` });
      return false;
    }
    const assignment: PoolMessageToSend = {
      type: "assign",
      jobId,
      attempt,
      leaseToken,
      contextPath: `/agent/jobs/${jobId}/context`,
      dockerfilePath: `/agent/jobs/${jobId}/dockerfile`,
      image: assignedImage(job),
      alsoPush: job.alsoPush.map(assignedImage),
      auth: password === undefined ? undefined : { username: job.userName, password, serveraddress: authServerAddress(job.registry) },
      logins: credentials.logins,
      options: job.options,
      secrets: credentials.secrets,
      cacheScope: await cacheScopeOf(job.tenant),
    };
    // The request's bounds keep it far under (shared/api.ts); one that cannot arrive must not be left to expire and
    // be handed out again, attempt after attempt, with nothing said.
    const bytes = new TextEncoder().encode(JSON.stringify(assignment)).length;
    if (bytes > MAX_ASSIGNMENT_BYTES) {
      await this.apply(jobId, { type: "fail", step: "agent", error: `the build's assignment is ${bytes} bytes, more than the ${MAX_ASSIGNMENT_BYTES} a message to an agent may carry` });
      return false;
    }
    sendTo(this.ctx, agentId, assignment);
    return true;
  }
}
