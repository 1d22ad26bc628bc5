/**
 * One job, as Buildkite's job runner does it: tell the pool the job started
 * before doing anything, then context → build → publish; clean up (what the
 * build left on the host, the log) before the final report, and make the
 * report the very last step. How an image is built and pushed is the
 * builder's business (builders/builder.ts); which step failed is this file's.
 */
import type { Readable } from "node:stream";
import type { AgentFailureStep } from "../shared/job";
import type { AgentMessage, Assignment, JobOutcome } from "../shared/protocol";
import { limitsEvent } from "./build-isolation";
import type { Builder, BuildJob } from "./builders/builder";
import { openContext } from "./context";
import { describeError } from "./errors";
import { jobRedactor, type Redact } from "./job-secrets";
import { LogStreamer, truncateLine } from "./log-streamer";
import { JobTimeLimit } from "./time-limit";

const CANCELED: JobOutcome = { status: "canceled" };
const UNKNOWN_ERROR = "unknown error";

export interface JobRunnerDeps {
  /** Builds and pushes the job's image; RUN steps get its isolation. */
  builder: Builder;
  /** The Worker's base URL, without a trailing slash. */
  workerUrl: string;
  agentToken: string;
  /** Every message about the job goes through here; the result is the last one. */
  send: (message: AgentMessage) => void;
  /** Aborted when the pool cancels the job. */
  signal: AbortSignal;
  /** Wall-clock limit for the whole job (DOCKIFY_AGENT_BUILD_TIMEOUT_SECONDS). */
  buildTimeoutSeconds: number;
  /** The agent's own one-line output, for what only its operator needs to know. */
  status: (line: string) => void;
}

/** Runs one assignment to its end and reports it; never throws. */
export async function runJob(assignment: Assignment, deps: JobRunnerDeps): Promise<JobOutcome> {
  const { jobId, attempt, image } = assignment;
  const { builder, send } = deps;
  const redact = jobRedactor(assignment, deps.agentToken);
  const logs = new LogStreamer({ redact, send: (entries) => send({ type: "log", jobId, attempt, entries }) });
  const timeLimit = new JobTimeLimit(deps.signal, deps.buildTimeoutSeconds);
  // Cancel and time limit alike abort every request of the job: the download, the build and the push.
  const { signal } = timeLimit;
  const job: BuildJob = {
    jobId,
    attempt,
    image,
    auth: assignment.auth,
    signal,
    log: logs,
    status: (line) => deps.status(`job ${jobId}: ${redact(line)}`),
  };

  send({ type: "phase", jobId, attempt, phase: "building" });
  let step: AgentFailureStep = "context";
  let context: Readable | undefined;
  let outcome: JobOutcome;
  try {
    logs.event(limitsEvent(builder.isolation, deps.buildTimeoutSeconds));
    logs.event({ type: "downloading-context" });
    context = await openContext({
      workerUrl: deps.workerUrl,
      contextPath: assignment.contextPath,
      agentToken: deps.agentToken,
      leaseToken: assignment.leaseToken,
      signal,
    });
    step = "build";
    const imageId = await builder.build(job, context);
    step = "push";
    // The build's last lines belong before the phase change in the job's log.
    logs.flush();
    send({ type: "phase", jobId, attempt, phase: "pushing" });
    logs.event({ type: "pushing", reference: image.reference });
    const digest = await builder.publish(job, imageId);
    outcome = { status: "succeeded", digest, imageId };
    logs.event({ type: "pushed", reference: image.reference, digest });
  } catch (error) {
    // The limit is checked first: its abort also breaks the context download, which would look like the context's fault.
    if (timeLimit.exceeded) outcome = failure(step, timeLimit.message, redact);
    else if (signal.aborted) outcome = CANCELED;
    // A context download that breaks mid-build fails the build request: the context is still the culprit.
    else outcome = failure(context?.errored ? "context" : step, error, redact);
    logs.event(outcome.status === "failed" ? { type: "failed", step: outcome.step, error: outcome.error } : { type: "canceled" });
  } finally {
    timeLimit.clear();
  }

  context?.destroy();
  // A build that started may have left something on the host, finished or not.
  if (step !== "context") await builder.cleanUp(job);
  logs.close();
  send({ type: "result", jobId, attempt, outcome });
  return outcome;
}

function failure(step: AgentFailureStep, error: unknown, redact: Redact): JobOutcome {
  return { status: "failed", step, error: truncateLine(redact(describeError(error)).trim()) || UNKNOWN_ERROR };
}
