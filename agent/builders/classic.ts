/**
 * The classic builder: the Engine's `POST /build` with no builder version
 * (not BuildKit), then a push of the job's reference through the Engine.
 * Build and push failures come back as errors carrying the daemon's or the
 * registry's own message.
 *
 * Jobs of this agent may name the same image reference (the same user twice,
 * or another tenant on purpose), and a push sends whatever the reference
 * points at when it starts. So a build is tagged only with a name of its own
 * job and attempt (`buildTag`), and only the job holding the reference's lock
 * puts the reference on its image, pushes it and takes the reference off again.
 */
import type { Readable } from "node:stream";
import type Docker from "dockerode";
import { DOCKERFILE_PATH } from "../../shared/context-path";
import { formatRepository } from "../../shared/reference";
import { isolationOptions, type BuildIsolation } from "../build-isolation";
import { daemonError, holdingReference, readProgress, removeImage } from "../docker";
import { pushedDigest } from "../docker-stream";
import type { Builder, BuildJob } from "./builder";

const NO_IMAGE_ID = "the build ended without reporting an image id";
const NO_DIGEST = "the push ended without reporting the pushed digest";
/** The local repository of every build; it is never pushed. */
const BUILD_REPOSITORY = "dockify-build";

/**
 * Docker 20.10 refuses a push without an X-Registry-Auth header ("Bad parameters
 * and missing X-Registry-Auth"); an empty one means anonymous, as the CLI sends it.
 */
const ANONYMOUS = {};

/**
 * The local name of one attempt's build, unique to it: `dockify-build:<job id>-<attempt>`. The protocol makes job
 * ids UUIDs, which fit the tag grammar (letters, digits and '-', 36 of 128 characters).
 */
export function buildTag(jobId: string, attempt: number): string {
  return `${BUILD_REPOSITORY}:${jobId}-${attempt}`;
}

export interface ClassicBuilderOptions {
  docker: Docker;
  /** The operator's network and limits for RUN steps. */
  isolation: BuildIsolation;
}

export class ClassicBuilder implements Builder {
  readonly isolation: BuildIsolation;
  readonly #docker: Docker;

  constructor(options: ClassicBuilderOptions) {
    this.#docker = options.docker;
    this.isolation = options.isolation;
  }

  /** Builds under the job's `buildTag`; returns the image id. */
  async build(job: BuildJob, context: Readable): Promise<string> {
    const { auth } = job;
    // Everything a build may use on the host is decided here; only the build's tag (its job id and attempt) and the
    // registry login come from the job. The classic builder gives RUN containers no volumes and no host folders (so
    // never the Docker socket; only the hosts, hostname and resolv.conf files Docker writes for every container) and
    // has no privileged mode; we pass no build arguments, extra hosts or cgroup parent. Network and limits: the operator's.
    const response = await this.#docker
      .buildImage(context, {
        t: buildTag(job.jobId, job.attempt),
        dockerfile: DOCKERFILE_PATH,
        rm: true,
        forcerm: true,
        abortSignal: job.signal,
        ...isolationOptions(this.isolation),
        // Lets the build pull a private base image from the registry the job pushes to.
        ...(auth && { registryconfig: { [auth.serveraddress]: { username: auth.username, password: auth.password } } }),
      })
      .catch((error: unknown) => Promise.reject(daemonError(error)));
    let imageId: string | undefined;
    await readProgress(response, job, (event) => {
      imageId = event.aux?.ID ?? imageId;
    });
    if (!imageId) throw new Error(NO_IMAGE_ID);
    return imageId;
  }

  /** Tags, pushes and untags the job's reference while holding it; returns the digest. */
  async publish(job: BuildJob, imageId: string): Promise<string> {
    const { reference } = job.image;
    return holdingReference(reference, job.signal, async () => {
      await this.#tag(job, imageId);
      try {
        return await this.#push(job, imageId);
      } finally {
        // Still under the lock: once it is released, the reference may already be another job's.
        await this.#remove(job, reference);
      }
    });
  }

  async cleanUp(job: BuildJob): Promise<void> {
    // Any build may have left its tag, finished or not; a missing one is fine.
    await this.#remove(job, buildTag(job.jobId, job.attempt));
  }

  /** Puts the job's reference on the image it built. Whoever calls this holds the reference until it is removed again. */
  async #tag(job: BuildJob, imageId: string): Promise<void> {
    const { image } = job;
    await this.#docker
      .getImage(imageId)
      .tag({ repo: formatRepository(image), tag: image.tag })
      .catch((error: unknown) => Promise.reject(daemonError(error)));
  }

  /** Pushes exactly the job's tag, which must point at `imageId`; returns the manifest digest the registry stored. */
  async #push(job: BuildJob, imageId: string): Promise<string> {
    const { image } = job;
    const response = await this.#docker
      // dockerode names the image in the URL path and takes the tag as a separate parameter: the repository alone here.
      .getImage(formatRepository(image))
      // Without `tag`, the daemon pushes every local tag of the repository.
      .push({ tag: image.tag, authconfig: job.auth ?? ANONYMOUS, abortSignal: job.signal })
      .catch((error: unknown) => Promise.reject(daemonError(error)));
    let digest: string | undefined;
    await readProgress(response, job, (event) => {
      digest ??= pushedDigest(event, image.tag);
    });
    if (!digest) throw new Error(NO_DIGEST);
    await this.#checkPushed(job, imageId, digest);
    return digest;
  }

  /**
   * Fails unless Docker filed the pushed digest under `imageId`. Docker resolves the tag once as the push starts and
   * records the digest under the image it actually sent. A manifest names its image's config, whose digest is the
   * image id, so the digest is this image's whatever repository spelling Docker filed it under. The reference lock
   * keeps this agent's jobs apart; this catches anything else on the same Docker Engine that moved the tag meanwhile.
   */
  async #checkPushed(job: BuildJob, imageId: string, digest: string): Promise<void> {
    const { RepoDigests } = await this.#docker
      .getImage(imageId)
      .inspect()
      .catch((error: unknown) => Promise.reject(daemonError(error)));
    if (!RepoDigests.some((name) => name.endsWith(`@${digest}`))) {
      const moved = `the tag ${job.image.reference} was changed on the Docker Engine during the push`;
      throw new Error(`the push sent another image than this job built (${digest}): ${moved}`);
    }
  }

  /** Local images are the operator's concern: what keeps one from going is said on the agent's output, not the job's log. */
  async #remove(job: BuildJob, reference: string): Promise<void> {
    const problem = await removeImage(this.#docker, reference);
    if (problem) job.status(`could not remove the local image ${reference}: ${problem}`);
  }
}
