/**
 * The classic builder: the Engine's `POST /build` with no builder version
 * (not BuildKit), for Engines without BuildKit, then a push of every reference
 * (publish.ts). Build and push failures come back as errors carrying the
 * daemon's or the registry's own message.
 *
 * Its step cache is intermediate images in the Engine's image store, shared by
 * every build on the Engine, and removing a build's image also removes the
 * untagged intermediate images under it. Two builds sharing a cached step on
 * one Engine therefore break each other: one build's cleanup removes an
 * intermediate image the other has just picked as its cache hit, and the other
 * fails with "unable to find image sha256:…". So this builder never uses the
 * cache (`nocache`): every image under a build's tag is its own, and removing
 * it removes nothing another build uses. (The cache did not survive a build
 * before either: removing the build's image removed it.) A build that fails
 * or is stopped leaves the images of the steps it finished, which no cache
 * will ever reuse now: its cleanup removes them too.
 */
import type { Readable } from "node:stream";
import type Docker from "dockerode";
import { authServerAddress } from "../../shared/reference";
import { isolationOptions, type BuildIsolation } from "../build-isolation";
import { buildTag, type BuildOwner } from "../build-tags";
import { daemonError, readProgress, removeImage } from "../docker";
import { EngineFailure } from "../engine-failure";
import type { Builder, BuildJob, BuildResult, Pushed } from "./builder";
import { publishAll } from "./publish";

const NO_IMAGE_ID = "the build ended without reporting an image id";
/**
 * Engine 20.10's answer to `/build` when it cannot unpack the context it was sent: HTTP 500, though the fault is the
 * context's (a 256-byte name: "Error processing tar file(exit status 1): open /aaa…: file name too long", measured).
 * The prefix is the daemon's own, so a name in the context cannot make a build look like the Engine's failure.
 */
const UNPACK_FAILURE = /^Error processing tar file\(exit status \d+\): /;
/** …unless the host itself failed the unpacking: the OS's error ends the message, after any name it quotes. */
const HOST_TROUBLE = /: (no space left on device|input\/output error|read-only file system|too many open files)$/;

/** The daemon's refusal of `/build`; a context Docker cannot unpack is the build's failure, not the Engine's. */
function buildRefusal(error: unknown): Error {
  const refusal = daemonError(error);
  const unpack = refusal instanceof EngineFailure && UNPACK_FAILURE.test(refusal.message) && !HOST_TROUBLE.test(refusal.message);
  return unpack ? new Error(refusal.message) : refusal;
}

/** The classic builder's line for an image it committed after a step: ` ---> 6eaba73597ad`. */
const STEP_IMAGE = /^ ---> ([0-9a-f]{12})\s*$/;

export interface ClassicBuilderOptions {
  docker: Docker;
  /** The operator's network and limits for RUN steps. */
  isolation: BuildIsolation;
  /** Whose tags this builder's builds carry: this process, unless a test says otherwise. */
  owner?: BuildOwner;
}

export class ClassicBuilder implements Builder {
  readonly name = "classic";
  readonly isolation: BuildIsolation;
  readonly #docker: Docker;
  readonly #owner: BuildOwner | undefined;
  /** Per attempt (its build tag), the image of the last step its build committed, for cleanUp. */
  readonly #lastStepImage = new Map<string, string>();

  constructor(options: ClassicBuilderOptions) {
    this.#docker = options.docker;
    this.isolation = options.isolation;
    this.#owner = options.owner;
  }

  /** Builds under the attempt's own tag; returns the image id. */
  async build(job: BuildJob, context: Readable): Promise<BuildResult> {
    const { options } = job;
    // Everything a build may use on the host is decided here. The classic builder gives RUN containers no volumes and
    // no host folders (so never the Docker socket; only the hosts, hostname and resolv.conf files Docker writes for
    // every container) and has no privileged mode; we pass no extra hosts or cgroup parent. Network and limits: the operator's.
    const response = await this.#docker
      .buildImage(context, {
        t: buildTag(job.jobId, job.attempt, this.#owner),
        dockerfile: options.dockerfile,
        ...(Object.keys(options.buildArgs).length > 0 && { buildargs: options.buildArgs }),
        ...(options.target && { target: options.target }),
        ...(options.platform && { platform: options.platform }),
        // Never a cached step: see the file's comment. The user's `noCache` is therefore always honoured.
        nocache: true,
        // Every FROM pulled again, with this build's credentials: never an image another build left on the host.
        pull: true,
        rm: true,
        forcerm: true,
        abortSignal: job.signal,
        ...isolationOptions(this.isolation),
        ...registryConfig(job),
      })
      .catch((error: unknown) => Promise.reject(buildRefusal(error)));
    let imageId: string | undefined;
    const tag = buildTag(job.jobId, job.attempt, this.#owner);
    await readProgress(response, job, (event) => {
      imageId = event.aux?.ID ?? imageId;
      const step = event.stream ? STEP_IMAGE.exec(event.stream)?.[1] : undefined;
      if (step) this.#lastStepImage.set(tag, step);
    });
    if (!imageId) throw new Error(NO_IMAGE_ID);
    return { imageId };
  }

  publish(job: BuildJob, imageId: string): Promise<Pushed[]> {
    return publishAll(this.#docker, job, imageId);
  }

  async cleanUp(job: BuildJob): Promise<void> {
    // Any build may have left its tag, finished or not; a missing one is fine. Removing it removes the images of the
    // build's steps under it, which no tag holds.
    const tag = buildTag(job.jobId, job.attempt, this.#owner);
    const problem = await removeImage(this.#docker, tag);
    if (problem) job.status(`could not remove the local image ${tag}: ${problem}`);
    // A build that stopped before its last step has no tag: its last step's image leads to the others. With no cache,
    // they are this build's alone. Already gone (the tag's removal took it) is fine.
    const step = this.#lastStepImage.get(tag);
    this.#lastStepImage.delete(tag);
    if (!step) return;
    const stepProblem = await removeImage(this.#docker, step);
    if (stepProblem) job.status(`could not remove the image ${step} of the build's last step: ${stepProblem}`);
  }
}

/** The job's logins for the classic builder's pulls (`X-Registry-Config`), keyed as Docker looks them up. */
function registryConfig(job: BuildJob): Pick<Docker.ImageBuildOptions, "registryconfig"> {
  const logins = job.logins.all;
  if (logins.length === 0) return {};
  return {
    registryconfig: Object.fromEntries(
      logins.map((login) => [authServerAddress(login.serveraddress), { username: login.username, password: login.password }]),
    ),
  };
}
