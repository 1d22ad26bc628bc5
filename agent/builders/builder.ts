/**
 * The seam between one job's lifecycle (job-runner.ts) and the tool that
 * builds and pushes its image. The runner decides the order (context, build,
 * publish, clean up, report) and which step a failure belongs to; a builder
 * only does each step. The classic builder (classic.ts) is the first; a
 * BuildKit builder will sit beside it (buildkit/), and what it needs more,
 * per-host registry credentials, build secrets, the session it serves, comes
 * in as fields of BuildJob and options of its own constructor.
 */
import type { Readable } from "node:stream";
import type { Assignment, RegistryAuth } from "../../shared/protocol";
import type { BuildIsolation } from "../build-isolation";

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
  /** The login for the job's registry; undefined: anonymous. */
  auth: RegistryAuth | undefined;
  /** Aborted on cancel or at the time limit: a step stops its requests and rejects. */
  signal: AbortSignal;
  /** What the user reads: the builder's own output, as it comes. */
  log: LogSink;
  /** The agent's own output about this job, for what only its operator needs to know; the runner redacts it. */
  status: (line: string) => void;
}

export interface Builder {
  /** What RUN steps get on this host with this builder, said at the start of every job's log. */
  readonly isolation: BuildIsolation;
  /** Builds the context; returns the built image's id. A failed build rejects with the builder's own message. */
  build(job: BuildJob, context: Readable): Promise<string>;
  /** Pushes the job's reference of the image `build` returned; returns the manifest digest the registry stored. */
  publish(job: BuildJob, imageId: string): Promise<string>;
  /**
   * Removes what the job's build left on the host, finished or not. It runs after a cancel too, so it does not stop
   * for the job's signal, and it never rejects: what it cannot remove it says on the job's `status`.
   */
  cleanUp(job: BuildJob): Promise<void>;
}
