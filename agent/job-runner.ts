/**
 * One job, as Buildkite's job runner does it: tell the pool the job started
 * before doing anything, then the Dockerfile → the check of every image it
 * names → context → build → publish; clean up (what the build left on the
 * host, the log) before the final report, and make the report the very last
 * step. How an image is built and pushed is the builder's business
 * (builders/builder.ts); which step failed is this file's.
 *
 * A failure of the Docker Engine itself (engine-failure.ts) is not the user's:
 * the attempt is given back to the pool (a `refused` message, after the same
 * cleanup), which runs the job again as another attempt, or ends it at step
 * `agent` once its attempts are spent.
 */
import type { Readable } from "node:stream";
import type { AgentFailureStep } from "../shared/job";
import { MAX_LOG_LINE_CHARS } from "../shared/build-log";
import { MAX_STEP_NAME_CHARS, type AgentMessage, type Assignment, type BuildStep, type JobOutcome, type Platform } from "../shared/protocol";
import { limitsEvent } from "./build-isolation";
import type { Builder, BuildJob } from "./builders/builder";
import { openCheckedContext } from "./context";
import { isEngineFailure } from "./engine-failure";
import { describeError } from "./errors";
import { checkDockerfileImages } from "./images/check-images";
import { dockerfileFromContext, downloadDockerfile } from "./images/dockerfile-source";
import type { AllowedFrontends } from "./images/frontends";
import { RESERVED_BUILD_ARG_PREFIX } from "../shared/api";
import { jobRedactor, type Redact } from "./job-secrets";
import { LogStreamer, truncateLine } from "./log-streamer";
import { jobLogins } from "./logins";
import { JobTimeLimit } from "./time-limit";

const CANCELED: JobOutcome = { status: "canceled" };
const UNKNOWN_ERROR = "unknown error";
/**
 * Build arguments that change how BuildKit treats the build are the agent's alone: BUILDKIT_CACHE_MOUNT_NS (whose
 * cache mounts), BUILDKIT_SYNTAX (which frontend runs it, as a `# syntax=` line would) and any later ones. The API
 * refuses them (400); checked again here, since a pool is not something the agent relies on for this.
 */
const RESERVED_ARG_PREFIX = RESERVED_BUILD_ARG_PREFIX;
/** The protocol's bound on a refusal's reason. */
const MAX_REASON_CHARS = 200;

/** How a run ends: reported to the pool as its outcome, or given back for another attempt. */
export type RunEnd = JobOutcome | { status: "given-back"; reason: string };

export interface JobRunnerDeps {
  /** Builds and pushes the job's image; RUN steps get its isolation. */
  builder: Builder;
  /** What the agent's Engine builds for: the platform a build targets unless it names one. */
  platform: Platform;
  /** The `# syntax=` frontends the operator allows (DOCKIFY_AGENT_FRONTENDS). */
  frontends: AllowedFrontends;
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
  /** Told the bytes of the build context as they arrive (the agent's metrics). */
  onContextBytes?: (bytes: number) => void;
}

/** The cache-mount namespace of a job: its tenant's scope, else its own (never the Engine-wide default). */
export function cacheNamespace(assignment: Pick<Assignment, "jobId" | "cacheScope">): string {
  return assignment.cacheScope ? `dockify-${assignment.cacheScope}` : `dockify-job-${assignment.jobId}`;
}

/** `os/arch[/variant]` as the build asks for it, else the Engine's own. */
function targetPlatform(requested: string | undefined, engine: Platform): Platform {
  const [os, architecture, variant] = requested?.split("/") ?? [];
  if (!os || !architecture) return engine;
  return { os, architecture, ...(variant && { variant }) };
}

/** Refuses the build arguments a user may not set, naming them all. */
function checkBuildArgs(buildArgs: Readonly<Record<string, string>>): void {
  const reserved = Object.keys(buildArgs).filter((name) => name.toUpperCase().startsWith(RESERVED_ARG_PREFIX));
  if (reserved.length > 0) {
    throw new Error(`build argument(s) ${reserved.join(", ")} refused: names starting with ${RESERVED_ARG_PREFIX} are reserved to the agent`);
  }
}

/** Runs one assignment to its end and reports it; never throws. */
export async function runJob(assignment: Assignment, deps: JobRunnerDeps): Promise<RunEnd> {
  const { jobId, attempt, image, options } = assignment;
  const { builder, send } = deps;
  const redact = jobRedactor(assignment, deps.agentToken);
  const logs = new LogStreamer({ redact, send: (entries) => send({ type: "log", jobId, attempt, entries }) });
  const timeLimit = new JobTimeLimit(deps.signal, deps.buildTimeoutSeconds);
  // Cancel and time limit alike abort every request of the job: the downloads, the checks, the build and the push.
  const { signal } = timeLimit;
  const logins = jobLogins(assignment);
  const download = { workerUrl: deps.workerUrl, agentToken: deps.agentToken, leaseToken: assignment.leaseToken, signal };

  send({ type: "phase", jobId, attempt, phase: "building" });
  let step: AgentFailureStep = "context";
  let context: Readable | undefined;
  let job: BuildJob | undefined;
  /** Set while the builder talks to the Engine: only its failures can be the Engine's. */
  let inEngine = false;
  let end: RunEnd;
  try {
    logs.event(limitsEvent(builder.isolation, deps.buildTimeoutSeconds, builder.name));
    logs.event({ type: "downloading-context" });
    const dockerfile = assignment.dockerfilePath
      ? await downloadDockerfile(download, assignment.dockerfilePath)
      : await dockerfileFromContext(download, assignment.contextPath, options.dockerfile);
    step = "build";
    checkBuildArgs(options.buildArgs);
    const { checked, mountsSecrets } = await checkDockerfileImages({
      dockerfile,
      buildArgs: options.buildArgs,
      platform: targetPlatform(options.platform, deps.platform),
      frontends: deps.frontends,
      logins,
      signal,
      onAllowed: (reference) => logs.event({ type: "image-allowed", reference }),
    });
    // A step's cache key leaves out the secrets it read: a cached step that read one would serve any later build with
    // the same step, whoever's and whatever its secrets. So a build that mounts a secret never uses the cache; any
    // build that could reuse such a step mounts the secret too, so none does.
    const buildOptions = mountsSecrets ? { ...options, noCache: true } : options;
    if (mountsSecrets) logs.event({ type: "secrets-uncached" });
    step = "context";
    context = await openCheckedContext({ ...download, path: assignment.contextPath, onBytes: deps.onContextBytes }, options.dockerfile);
    step = "build";
    job = {
      jobId,
      attempt,
      image,
      alsoPush: assignment.alsoPush,
      auth: assignment.auth,
      logins,
      options: buildOptions,
      secrets: new Map(assignment.secrets.map(({ id, value }) => [id, value])),
      cacheNamespace: cacheNamespace(assignment),
      checked,
      signal,
      log: logs,
      event: (event) => logs.event(event),
      status: (line) => deps.status(`job ${jobId}: ${redact(line)}`),
    };
    inEngine = true;
    const built = await builder.build(job, context);
    inEngine = false;
    if (built.reuse && built.reuse.steps > 0) logs.event({ type: "cache-reused", ...built.reuse });
    step = "push";
    // The build's last lines belong before the phase change in the job's log.
    logs.flush();
    send({ type: "phase", jobId, attempt, phase: "pushing" });
    inEngine = true;
    const pushed = await builder.publish(job, built.imageId);
    inEngine = false;
    end = { status: "succeeded", digest: pushed[0]!.digest, imageId: built.imageId, pushed, ...(built.steps && { steps: reportedSteps(built.steps, redact) }) };
  } catch (error) {
    // The limit is checked first: its abort also breaks the context download, which would look like the context's fault.
    if (timeLimit.exceeded) end = failure(step, timeLimit.message, redact);
    else if (signal.aborted) end = CANCELED;
    // A context download that breaks (or fails the agent's own check) mid-build fails the build request: the
    // context is still the culprit, and its own error says why.
    else if (context?.errored) end = failure("context", context.errored, redact);
    else if (inEngine && isEngineFailure(error)) end = { status: "given-back", reason: `the Docker Engine failed: ${message(error, redact)}` };
    else end = failure(step, error, redact);
    if (end.status === "given-back") logs.event({ type: "engine-failed", error: message(error, redact) });
    else if (end.status === "failed") logs.event({ type: "failed", step: end.step, error: end.error });
    else logs.event({ type: "canceled" });
  } finally {
    timeLimit.clear();
  }

  context?.destroy();
  // A build that started may have left something on the host, finished or not.
  if (job) await builder.cleanUp(job);
  logs.close();
  if (end.status === "given-back") send({ type: "refused", jobId, attempt, reason: end.reason.slice(0, MAX_REASON_CHARS), givenBack: true });
  else send({ type: "result", jobId, attempt, outcome: end });
  return end;
}

/**
 * The steps as they go on the build's record: BuildKit writes the build's arguments and environment into a step's
 * name (`RUN echo $TOKEN` is named with the token's value), so every name and error is redacted, then cut to the
 * record's limits (cut first, a secret across the cut would keep its first part).
 */
export function reportedSteps(steps: readonly BuildStep[], redact: Redact): BuildStep[] {
  return steps.map(({ name, error, ...step }) => ({
    ...step,
    name: redact(name).slice(0, MAX_STEP_NAME_CHARS),
    ...(error !== undefined && { error: redact(error).slice(0, MAX_LOG_LINE_CHARS) }),
  }));
}

function message(error: unknown, redact: Redact): string {
  return truncateLine(redact(describeError(error)).trim()) || UNKNOWN_ERROR;
}

function failure(step: AgentFailureStep, error: unknown, redact: Redact): JobOutcome {
  return { status: "failed", step, error: message(error, redact) };
}
