/** Job states and failure steps, shared by the pool and the agent. */

export const JOB_STATES = ["queued", "assigned", "building", "pushing", "succeeded", "failed", "canceled"] as const;
export type JobState = (typeof JOB_STATES)[number];

export const FINAL_STATES: ReadonlySet<JobState> = new Set(["succeeded", "failed", "canceled"]);
/** States in which an agent holds the job under a lease. */
export const LEASED_STATES: ReadonlySet<JobState> = new Set(["assigned", "building", "pushing"]);

/** Where a failed job failed: the user always knows which side it was. */
export const FAILURE_STEPS = ["context", "build", "push", "agent", "canceled"] as const;
export type FailureStep = (typeof FAILURE_STEPS)[number];

export function isFinal(state: JobState): boolean {
  return FINAL_STATES.has(state);
}
