/**
 * The BuildKit builder: the Engine's own BuildKit through its HTTP API
 * (`POST /build?version=2`, the context tar in the body), with a session of
 * the agent's own (session.ts) for per-host registry logins, build secrets and
 * BuildKit's health checks. Its cache lives apart from images and survives
 * between builds, bounded (cache.ts); progress is rendered as plain lines and
 * the steps kept as data (progress.ts).
 *
 * What BuildKit on Engine 20.10 does not do, and so this builder does not
 * offer: memory, CPU and ulimit options are accepted by the API and ignored
 * (the agent's configuration refuses them with this builder), and RUN steps
 * get the default network (the Engine's bridge), `none` or `host`, never a
 * named network (the API answers 500).
 */
import type { Readable } from "node:stream";
import type Docker from "dockerode";
import type { BuildIsolation } from "../../build-isolation";
import { buildTag, type BuildOwner } from "../../build-tags";
import { daemonError, readProgress, removeImage } from "../../docker";
import { EngineFailure } from "../../engine-failure";
import { describeError } from "../../errors";
import { ImageNotPullable } from "../../images/registry-check";
import type { Builder, BuildJob, BuildResult, Pushed } from "../builder";
import { publishAll } from "../publish";
import { CacheBound } from "./cache";
import { PlainProgress } from "./progress";
import { BuildSession } from "./session";
import { decodeTrace, type Trace } from "./trace";

const NO_IMAGE_ID = "the build ended without reporting an image id";
/** The stream line that carries the built image's id; the stream goes on after it. */
const IMAGE_ID_LINE = "moby.image.id";
/** The build argument that namespaces `RUN --mount=type=cache` (BuildKit's Dockerfile frontend). */
export const CACHE_MOUNT_NS_ARG = "BUILDKIT_CACHE_MOUNT_NS";
/** Network modes BuildKit's RUN steps support besides the default. */
const BUILDKIT_NETWORKS: ReadonlySet<string> = new Set(["none", "host"]);

export interface BuildKitBuilderOptions {
  docker: Docker;
  /** The operator's network for RUN steps (memory and CPU limits are refused with this builder by the configuration). */
  isolation: BuildIsolation;
  /** DOCKIFY_AGENT_CACHE_BYTES: the build cache is pruned down to this after each build. */
  cacheBytes: number;
  /** Whose tags this builder's builds carry: this process, unless a test says otherwise. */
  owner?: BuildOwner;
  /** The agent's own output, for what goes wrong in upkeep no job waits for (a cache prune run after the builds that asked). */
  status: (line: string) => void;
}

export class BuildKitBuilder implements Builder {
  readonly name = "buildkit";
  readonly isolation: BuildIsolation;
  readonly #docker: Docker;
  readonly #cache: CacheBound;
  readonly #owner: BuildOwner | undefined;

  constructor(options: BuildKitBuilderOptions) {
    this.#docker = options.docker;
    this.isolation = options.isolation;
    this.#cache = new CacheBound(options.docker, options.cacheBytes, options.status);
    this.#owner = options.owner;
  }

  async build(job: BuildJob, context: Readable): Promise<BuildResult> {
    const session = await BuildSession.open(this.#docker, { logins: job.logins, secrets: job.secrets }, job.signal).catch(
      (error: unknown) => Promise.reject(daemonError(error)),
    );
    // Stops the build when it reaches for an image the check did not clear, before any of its steps run.
    const refusal = new AbortController();
    const signal = AbortSignal.any([job.signal, refusal.signal]);
    const progress = new PlainProgress((line) => job.log.write(`${line}\n`));
    let refused: string | undefined;
    let imageId: string | undefined;
    try {
      const response = await this.#dial(this.#query(job, session.id), context, signal);
      await readProgress(response, { signal, log: job.log }, (event) => {
        if (event.trace !== undefined) {
          const trace = decoded(event.trace);
          if (!trace) return;
          for (const reference of progress.push(trace)) {
            if (refused || job.checked.allows(reference)) continue;
            refused = `the build reached for ${reference}, which is not among the images the agent checked against this build's credentials; it was stopped before running any step`;
            refusal.abort();
          }
        } else if (event.id === IMAGE_ID_LINE && event.aux?.ID) {
          imageId = event.aux.ID;
        }
      });
    } catch (error) {
      if (refused) throw new ImageNotPullable(refused);
      // A cancel or the time limit may close the session's connection too; that is no failure of the Engine's.
      if (session.lost && !job.signal.aborted) throw new EngineFailure(`BuildKit lost the build's session: ${describeError(error)}`);
      throw error;
    } finally {
      progress.finish();
      session.close();
    }
    if (refused) throw new ImageNotPullable(refused);
    if (!imageId) throw new Error(NO_IMAGE_ID);
    return { imageId, steps: progress.steps(), reuse: progress.reuse() };
  }

  publish(job: BuildJob, imageId: string): Promise<Pushed[]> {
    return publishAll(this.#docker, job, imageId);
  }

  async cleanUp(job: BuildJob): Promise<void> {
    const tag = buildTag(job.jobId, job.attempt, this.#owner);
    const problem = await removeImage(this.#docker, tag);
    if (problem) job.status(`could not remove the local image ${tag}: ${problem}`);
    // Cache upkeep, not the job's own cleanup: it goes on while the job reports (a prune takes tens of milliseconds
    // over a thousand records), and what it could not do is the operator's to read.
    this.#cache.enforce().catch((error: unknown) => job.status(`could not prune the build cache: ${(error as Error).message}`));
  }

  /** The build's query parameters: everything the build may use is decided here. */
  #query(job: BuildJob, session: string): Record<string, unknown> {
    const { options } = job;
    const network = this.isolation.network;
    return {
      version: "2",
      session,
      t: [buildTag(job.jobId, job.attempt, this.#owner)],
      dockerfile: options.dockerfile,
      // The runner refuses users' BUILDKIT_ arguments, so this namespace is always the agent's.
      buildargs: { ...options.buildArgs, [CACHE_MOUNT_NS_ARG]: job.cacheNamespace },
      ...(options.target && { target: options.target }),
      ...(options.platform && { platform: options.platform }),
      ...(options.noCache && { nocache: "1" }),
      // Every tagged FROM asked at its registry again (digest-pinned ones are checked by the agent beforehand).
      pull: "1",
      ...(network && BUILDKIT_NETWORKS.has(network) && { networkmode: network }),
    };
  }

  #dial(query: Record<string, unknown>, context: Readable, signal: AbortSignal): Promise<NodeJS.ReadableStream> {
    return new Promise((resolve, reject) => {
      // Not docker.buildImage: with version 2 it opens a session of dockerode's own, which has no health service.
      this.#docker.modem.dial(
        {
          path: "/build?",
          method: "POST",
          file: context,
          options: query,
          abortSignal: signal,
          isStream: true,
          statusCodes: { 200: true, 400: "bad parameter", 500: "server error" },
        },
        (error: unknown, response: unknown) => (error ? reject(daemonError(error)) : resolve(response as NodeJS.ReadableStream)),
      );
    });
  }
}

/** A trace that does not decode is skipped: the build's result does not depend on its progress. */
function decoded(aux: string): Trace | undefined {
  try {
    return decodeTrace(aux);
  } catch {
    return undefined;
  }
}
