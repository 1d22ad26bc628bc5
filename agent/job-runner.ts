/**
 * One job, as Buildkite's job runner does it: tell the pool the job started
 * before doing anything, then context → build → push; clean up (remove the
 * local image, flush the log) before the final report, and make the report
 * the very last step.
 *
 * Jobs of this agent may name the same image reference (the same user twice,
 * or another tenant on purpose). Each builds under its own tag, and only the
 * job holding the reference's lock puts the reference on its image, pushes it
 * and takes the reference off again.
 */
import type { Readable } from "node:stream";
import type Docker from "dockerode";
import type { AgentFailureStep } from "../shared/job";
import type { AgentMessage, Assignment, JobOutcome } from "../shared/protocol";
import { describeIsolation, type BuildIsolation } from "./build-isolation";
import { openContext } from "./context";
import { normalizedReference } from "./docker-name";
import { buildImage, buildTag, pushImage, removeImage, tagImage, type DockerJob } from "./docker";
import { describeError } from "./errors";
import { jobRedactor, type Redact } from "./job-secrets";
import { KeyedLock } from "./keyed-lock";
import { LogStreamer, truncateLine } from "./log-streamer";
import { JobTimeLimit } from "./time-limit";

const CANCELED: JobOutcome = { status: "canceled" };
const UNKNOWN_ERROR = "unknown error";

/** One per agent process, shared by all its jobs: keyed by the name Docker files a reference under. */
const referenceLock = new KeyedLock();

export interface JobRunnerDeps {
  docker: Docker;
  /** The Worker's base URL, without a trailing slash. */
  workerUrl: string;
  agentToken: string;
  /** Every message about the job goes through here; the result is the last one. */
  send: (message: AgentMessage) => void;
  /** Aborted when the pool cancels the job. */
  signal: AbortSignal;
  /** The network and limits of RUN steps (DOCKIFY_AGENT_BUILD_NETWORK, _MEMORY, _CPUS). */
  isolation: BuildIsolation;
  /** Wall-clock limit for the whole job (DOCKIFY_AGENT_BUILD_TIMEOUT_SECONDS). */
  buildTimeoutSeconds: number;
  /** The agent's own one-line output, for what only its operator needs to know. */
  status: (line: string) => void;
}

/** Runs one assignment to its end and reports it; never throws. */
export async function runJob(assignment: Assignment, deps: JobRunnerDeps): Promise<JobOutcome> {
  const { jobId, attempt, image } = assignment;
  const { docker, send, isolation } = deps;
  const redact = jobRedactor(assignment, deps.agentToken);
  const logs = new LogStreamer({ redact, send: (lines) => send({ type: "log", jobId, attempt, lines }) });
  const timeLimit = new JobTimeLimit(deps.signal, deps.buildTimeoutSeconds);
  // Cancel and time limit alike abort every request of the job: the download, Docker's build and its push.
  const { signal } = timeLimit;
  const dockerJob: DockerJob = { docker, image, buildTag: buildTag(jobId, attempt), auth: assignment.auth, signal, logs, isolation };
  /** Local images are the operator's concern: what keeps one from going is said on the agent's output, not the job's. */
  const removeLocal = async (reference: string) => {
    const problem = await removeImage(docker, reference);
    if (problem) deps.status(`job ${jobId}: could not remove the local image ${reference}: ${redact(problem)}`);
  };

  send({ type: "phase", jobId, attempt, phase: "building" });
  let step: AgentFailureStep = "context";
  let context: Readable | undefined;
  let outcome: JobOutcome;
  try {
    logs.write(`[dockify] ${describeIsolation(isolation)}; time limit ${deps.buildTimeoutSeconds} s\n`);
    logs.write(`[dockify] downloading the build context\n`);
    context = await openContext({
      workerUrl: deps.workerUrl,
      contextPath: assignment.contextPath,
      agentToken: deps.agentToken,
      leaseToken: assignment.leaseToken,
      signal,
    });
    step = "build";
    const imageId = await buildImage(dockerJob, context);
    step = "push";
    // The build's last lines belong before the phase change in the job's log.
    logs.flush();
    send({ type: "phase", jobId, attempt, phase: "pushing" });
    logs.write(`[dockify] pushing ${image.reference}\n`);
    const digest = await referenceLock.run(normalizedReference(image.reference), signal, async () => {
      await tagImage(dockerJob, imageId);
      try {
        return await pushImage(dockerJob, imageId);
      } finally {
        // Still under the lock: once it is released, the reference may already be another job's.
        await removeLocal(image.reference);
      }
    });
    outcome = { status: "succeeded", digest, imageId };
    logs.write(`[dockify] pushed ${image.reference}@${digest}\n`);
  } catch (error) {
    // The limit is checked first: its abort also breaks the context download, which would look like the context's fault.
    if (timeLimit.exceeded) outcome = failure(step, timeLimit.message, redact);
    else if (signal.aborted) outcome = CANCELED;
    // A context download that breaks mid-build fails the build request: the context is still the culprit.
    else outcome = failure(context?.errored ? "context" : step, error, redact);
    logs.write(outcome.status === "failed" ? `[dockify] ${outcome.step} failed: ${outcome.error}\n` : "[dockify] canceled\n");
  } finally {
    timeLimit.clear();
  }

  context?.destroy();
  // Any build may have left its tag, finished or not; a missing one is fine.
  if (step !== "context") await removeLocal(dockerJob.buildTag);
  logs.close();
  send({ type: "result", jobId, attempt, outcome });
  return outcome;
}

function failure(step: AgentFailureStep, error: unknown, redact: Redact): JobOutcome {
  return { status: "failed", step, error: truncateLine(redact(describeError(error)).trim()) || UNKNOWN_ERROR };
}
