/** Job states, phases and failure steps: one definition, shared by the pool, the agent and the API. */

export const JOB_STATES = ["queued", "assigned", "building", "pushing", "succeeded", "failed", "canceled"] as const;
export type JobState = (typeof JOB_STATES)[number];

export const FINAL_STATES: ReadonlySet<JobState> = new Set(["succeeded", "failed", "canceled"]);
/** States in which an agent holds the job under a lease. */
export const LEASED_STATES: ReadonlySet<JobState> = new Set(["assigned", "building", "pushing"]);

/** The states an agent moves a job into as it works: the phases of a run. */
export const BUILD_PHASES = ["building", "pushing"] as const satisfies readonly JobState[];
export type BuildPhase = (typeof BUILD_PHASES)[number];

/** The steps of an agent's run, in order: a failure it reports names the step it happened in. */
export const AGENT_FAILURE_STEPS = ["context", "build", "push"] as const;
export type AgentFailureStep = (typeof AGENT_FAILURE_STEPS)[number];

/**
 * Where a failed job failed: one of the agent's steps, `agent` when no agent
 * finished it, or `canceled`. The user always knows which side it was.
 */
export const FAILURE_STEPS = [...AGENT_FAILURE_STEPS, "agent", "canceled"] as const;
export type FailureStep = (typeof FAILURE_STEPS)[number];

export function isFinal(state: JobState): boolean {
  return FINAL_STATES.has(state);
}
