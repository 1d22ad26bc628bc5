/**
 * The job state machine as one pure function: given a job's lease-relevant
 * fields and an event, it says what changes, or why the event is ignored.
 * Every event from an agent is fenced by agent and attempt, so a slow agent
 * from an older assignment cannot move a job it no longer holds.
 */
import { isFinal, LEASED_STATES, type BuildPhase, type FailureStep, type JobState } from "../../shared/job";
import type { BuildStep, JobOutcome, PushedImage } from "../../shared/protocol";

export interface JobLease {
  state: JobState;
  attempt: number;
  agentId: string | null;
  leaseExpiresAt: number | null;
  /**
   * The hash of the lease token handed out with the assignment; it lives exactly as long as the lease.
   * An agent on a new connection proves the lease with it.
   */
  leaseHash: string | null;
  /**
   * A cancel reached a running job and its agent was told. The agent's own report
   * still wins a race (a pushed image is a success); a lapsed lease ends it canceled.
   */
  cancelRequested: boolean;
}

export interface JobEnd {
  step: FailureStep | null;
  error: string | null;
  digest: string | null;
  imageId: string | null;
  /** The Dockerfile's steps as the agent reported them with a success; null when it reported none. */
  steps: BuildStep[] | null;
  /** Every reference pushed, the job's own first, with its digest; null when the agent did not list them (older agents). */
  pushed: PushedImage[] | null;
}

export type JobEvent =
  | { type: "assign"; agentId: string; now: number; leaseMs: number; leaseHash: string }
  /**
   * A heartbeat or a log batch from the holding agent; with `leaseHash` (the hash of the lease token it
   * presents), an agent on a new connection takes over the attempt it proves it holds.
   */
  | { type: "renew"; agentId: string; attempt: number; now: number; leaseMs: number; leaseHash?: string }
  | { type: "phase"; agentId: string; attempt: number; phase: BuildPhase; now: number; leaseMs: number }
  /** `pushTo`: the references the job must have pushed, its own first, then each also_push, as the result lists them. */
  | { type: "result"; agentId: string; attempt: number; outcome: JobOutcome; pushTo: readonly string[] }
  /**
   * The agent did not take the assignment (it was shutting down), or gave it back (its Docker Engine failed, not the
   * build): back to the queue at once, not after the lease; on the last attempt the job ends at step `agent`.
   */
  /**
   * The agent did not take the assignment (shutting down, full), or gives back one it started (`givenBack`: its
   * Engine failed). Back to the queue at once, not after the lease.
   */
  | { type: "refused"; agentId: string; attempt: number; reason: string; maxAttempts: number; givenBack: boolean }
  | { type: "leaseExpired"; now: number; maxAttempts: number }
  | { type: "cancel" }
  /** The pool itself cannot go on with the job (e.g. its secret no longer opens). */
  | { type: "fail"; step: FailureStep; error: string };

export type Transition =
  | { ok: true; lease: JobLease; end?: JobEnd }
  | { ok: false; reason: string };

/** Why an event was refused; named so callers and tests need not match strings. */
export const IGNORED = {
  final: "job has already ended",
  notQueued: "job is not queued",
  notHeld: "job is not held by this agent under this attempt",
  notExpired: "lease has not expired",
} as const;

const RELEASED = { agentId: null, leaseExpiresAt: null, leaseHash: null } as const;

function holds(job: JobLease, agentId: string, attempt: number): boolean {
  return LEASED_STATES.has(job.state) && job.agentId === agentId && job.attempt === attempt;
}

function end(state: JobState, job: JobLease, fields: Partial<JobEnd>): Transition {
  return {
    ok: true,
    lease: { ...job, state, ...RELEASED },
    end: { step: null, error: null, digest: null, imageId: null, steps: null, pushed: null, ...fields },
  };
}

/**
 * What a success pushed, when it pushed every reference the job names, in order; otherwise why not. An agent too old
 * to list what it pushed is taken at its word only for a job of one reference: the digest it reports is that one's.
 */
function pushedOf(outcome: Extract<JobOutcome, { status: "succeeded" }>, pushTo: readonly string[]): PushedImage[] | string {
  const pushed = outcome.pushed ?? (pushTo.length === 1 ? [{ reference: pushTo[0]!, digest: outcome.digest }] : undefined);
  if (!pushed) return `the agent reported success without listing what it pushed; ${pushTo.slice(1).join(", ")} may not have been`;
  const listed = pushed.map(({ reference }) => reference);
  if (listed.length !== pushTo.length || listed.some((reference, index) => reference !== pushTo[index])) {
    return `the agent reported success having pushed ${listed.join(", ") || "nothing"}, not ${pushTo.join(", ")}`;
  }
  return pushed;
}

function outcomeTransition(job: JobLease, outcome: JobOutcome, pushTo: readonly string[]): Transition {
  switch (outcome.status) {
    case "succeeded": {
      const pushed = pushedOf(outcome, pushTo);
      if (typeof pushed === "string") return end("failed", job, { step: "push", error: pushed });
      return end("succeeded", job, { digest: outcome.digest, imageId: outcome.imageId, steps: outcome.steps ?? null, pushed });
    }
    case "failed":
      return end("failed", job, { step: outcome.step, error: outcome.error });
    case "canceled":
      return end("canceled", job, { step: "canceled", error: "the build was canceled while it ran" });
  }
}

export function transition(job: JobLease, event: JobEvent): Transition {
  if (isFinal(job.state)) return { ok: false, reason: IGNORED.final };
  switch (event.type) {
    case "assign":
      if (job.state !== "queued") return { ok: false, reason: IGNORED.notQueued };
      return {
        ok: true,
        lease: {
          ...job,
          state: "assigned",
          attempt: job.attempt + 1,
          agentId: event.agentId,
          leaseExpiresAt: event.now + event.leaseMs,
          leaseHash: event.leaseHash,
        },
      };
    case "renew":
    case "phase": {
      const proof = event.type === "renew" ? event.leaseHash : undefined;
      const allowed =
        proof === undefined
          ? holds(job, event.agentId, event.attempt)
          : LEASED_STATES.has(job.state) && job.attempt === event.attempt && job.leaseHash === proof;
      if (!allowed) return { ok: false, reason: IGNORED.notHeld };
      const state = event.type === "phase" ? event.phase : job.state;
      return { ok: true, lease: { ...job, state, agentId: event.agentId, leaseExpiresAt: event.now + event.leaseMs } };
    }
    case "result":
      if (!holds(job, event.agentId, event.attempt)) return { ok: false, reason: IGNORED.notHeld };
      return outcomeTransition(job, event.outcome, event.pushTo);
    case "refused":
      if (!holds(job, event.agentId, event.attempt)) return { ok: false, reason: IGNORED.notHeld };
      if (job.cancelRequested) return end("canceled", job, { step: "canceled", error: "the build was canceled while it ran" });
      // Like a lapsed lease, a build given back spends the attempt; without this end, an Engine that keeps failing
      // would loop. One never started (the agent was draining or full) is not the build's fault: it waits for another.
      if (event.givenBack && job.attempt >= event.maxAttempts) {
        return end("failed", job, { step: "agent", error: `the build agent gave up on attempt ${job.attempt} of ${event.maxAttempts}: ${event.reason}` });
      }
      // The attempt number stays spent, so fencing stays monotonic.
      return { ok: true, lease: { ...job, state: "queued", ...RELEASED } };
    case "leaseExpired":
      if (!LEASED_STATES.has(job.state) || job.leaseExpiresAt === null || job.leaseExpiresAt > event.now) {
        return { ok: false, reason: IGNORED.notExpired };
      }
      if (job.cancelRequested) {
        return end("canceled", job, { step: "canceled", error: "the build was canceled (its agent stopped responding before confirming)" });
      }
      if (job.attempt >= event.maxAttempts) {
        const error = `the build agent stopped responding (lease expired) on attempt ${job.attempt} of ${event.maxAttempts}`;
        return end("failed", job, { step: "agent", error });
      }
      return { ok: true, lease: { ...job, state: "queued", ...RELEASED } };
    case "fail":
      return end("failed", job, { step: event.step, error: event.error });
    case "cancel":
      if (job.state === "queued") return end("canceled", job, { step: "canceled", error: "the build was canceled before it started" });
      return { ok: true, lease: { ...job, cancelRequested: true } };
  }
}
