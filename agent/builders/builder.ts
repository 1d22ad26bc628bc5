/**
 * The seam between one job's lifecycle (job-runner.ts) and the tool that
 * builds and pushes its image. The runner decides the order (context, the
 * image check, build, publish, clean up, report) and which step a failure
 * belongs to; a builder only does each step. Two builders sit behind it: the
 * Engine's BuildKit (buildkit/), the default where the Engine has it, and the
 * classic builder (classic.ts) for older Engines.
 */
import type { Readable } from "node:stream";
import type { AgentEvent } from "../../shared/build-log";
import type { Assignment, BuilderName, BuildOptions, BuildStep, RegistryAuth } from "../../shared/protocol";
import type { BuildIsolation } from "../build-isolation";
import type { CheckedRepositories } from "../images/check-images";
import type { Logins } from "../logins";

/** The job's log as a builder writes it: raw output, which the runner's streamer splits into lines, redacts and batches. */
export interface LogSink {
  write(text: string): void;
}

/** One attempt of one job, as every step of a builder sees it. */
export interface BuildJob {
  jobId: string;
  /** With the job id, names whatever the build leaves on the host, so attempts never share it. */
  attempt: number;
  image: Assignment["image"];
  /** More references to push from the same build, after `image`. */
  alsoPush: Assignment["image"][];
  /** The login for the job's registry; undefined: anonymous. */
  auth: RegistryAuth | undefined;
  /** Every login of the job, per registry host: for pulls, and for pushing each reference to its own registry. */
  logins: Logins;
  options: BuildOptions;
  /** Secret id → value, for `RUN --mount=type=secret` (BuildKit only). */
  secrets: ReadonlyMap<string, string>;
  /** The namespace of the build's cache mounts: never shared with another tenant's builds. */
  cacheNamespace: string;
  /** The repositories the image check cleared this build to pull from. */
  checked: CheckedRepositories;
  /** Aborted on cancel or at the time limit: a step stops its requests and rejects. */
  signal: AbortSignal;
  /** What the user reads: the builder's own output, as it comes. */
  log: LogSink;
  /** Dockify's own entries in the job's log (pushing, pushed). */
  event: (event: AgentEvent) => void;
  /** The agent's own output about this job, for what only its operator needs to know; the runner redacts it. */
  status: (line: string) => void;
}

export interface BuildResult {
  imageId: string;
  /** The Dockerfile's steps as they ran, when the builder reports them. */
  steps?: BuildStep[];
  /** How many of the steps that do work came from the cache, when the builder can tell. */
  reuse?: { reused: number; steps: number };
}

/** A reference pushed, with the digest its registry stored. */
export interface Pushed {
  reference: string;
  digest: string;
}

export interface Builder {
  readonly name: BuilderName;
  /** What RUN steps get on this host with this builder, said at the start of every job's log. */
  readonly isolation: BuildIsolation;
  /** Builds the context. A failed build rejects with the builder's own message. */
  build(job: BuildJob, context: Readable): Promise<BuildResult>;
  /** Pushes every reference of the job (`image` first, then `alsoPush`) of the image `build` returned. */
  publish(job: BuildJob, imageId: string): Promise<Pushed[]>;
  /**
   * Removes what the job's build left on the host, finished or not, and starts keeping what the builder caches within
   * its bounds. It runs after a cancel too, so it does not stop for the job's signal, and it never rejects: what it
   * cannot do it says on the job's `status`.
   */
  cleanUp(job: BuildJob): Promise<void>;
}
