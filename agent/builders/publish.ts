/**
 * Pushing a built image under each of a job's references, the same for every
 * builder: the job's own reference first, then `alsoPush`, each to its own
 * registry with the job's login for that host.
 *
 * Jobs may name the same image reference (the same user twice, or another
 * tenant on purpose), and a push sends whatever the reference points at when
 * it starts. So a build is tagged only with a name of its own attempt
 * (build-tags.ts), and only the job holding the reference's lock puts the
 * reference on its image, pushes it and takes the reference off again.
 *
 * The image is the agent's own, under a tag of its attempt: the daemon
 * answering that it does not exist means something else on the Engine removed
 * it after the build, which is the Engine's failure (engine-failure.ts), not
 * the build's.
 */
import type Docker from "dockerode";
import { formatRepository } from "../../shared/reference";
import { daemonError, holdingReference, isNotFound, readProgress, removeImage } from "../docker";
import { EngineFailure } from "../engine-failure";
import { pushedDigest } from "../docker-stream";
import type { BuildJob, Pushed } from "./builder";

const NO_DIGEST = "the push ended without reporting the pushed digest";
/**
 * Docker 20.10 refuses a push without an X-Registry-Auth header ("Bad parameters
 * and missing X-Registry-Auth"); an empty one means anonymous, as the CLI sends it.
 */
const ANONYMOUS = {};

type ImageRef = BuildJob["image"];

/** The daemon's error about the build's own image: its vanishing is the Engine's failure. */
function aboutBuiltImage(error: unknown, imageId: string): Error {
  if (!isNotFound(error)) return daemonError(error);
  return new EngineFailure(`the image this build made (${imageId}) is gone from the Docker Engine: something removed it before its push (${daemonError(error).message})`);
}

/** Pushes every reference of the job in turn; returns each with its digest, the job's own first. */
export async function publishAll(docker: Docker, job: BuildJob, imageId: string): Promise<Pushed[]> {
  const pushed: Pushed[] = [];
  for (const image of [job.image, ...job.alsoPush]) {
    job.event({ type: "pushing", reference: image.reference });
    const digest = await publishOne(docker, job, image, imageId);
    job.event({ type: "pushed", reference: image.reference, digest });
    pushed.push({ reference: image.reference, digest });
  }
  return pushed;
}

/** Tags, pushes and untags one reference while holding it; returns the digest. */
function publishOne(docker: Docker, job: BuildJob, image: ImageRef, imageId: string): Promise<string> {
  return holdingReference(image.reference, job.signal, async () => {
    await docker
      .getImage(imageId)
      .tag({ repo: formatRepository(image), tag: image.tag })
      .catch((error: unknown) => Promise.reject(aboutBuiltImage(error, imageId)));
    try {
      const digest = await push(docker, job, image);
      await checkPushed(docker, image, imageId, digest);
      return digest;
    } finally {
      // Still under the lock: once it is released, the reference may already be another job's.
      const problem = await removeImage(docker, image.reference);
      if (problem) job.status(`could not remove the local image ${image.reference}: ${problem}`);
    }
  });
}

/** Pushes exactly the reference's tag; returns the manifest digest the registry stored. */
async function push(docker: Docker, job: BuildJob, image: ImageRef): Promise<string> {
  const login = job.logins.for(image.registry);
  const response = await docker
    // dockerode names the image in the URL path and takes the tag as a separate parameter: the repository alone here.
    .getImage(formatRepository(image))
    // Without `tag`, the daemon pushes every local tag of the repository.
    .push({ tag: image.tag, authconfig: login ?? ANONYMOUS, abortSignal: job.signal })
    .catch((error: unknown) => Promise.reject(daemonError(error)));
  let digest: string | undefined;
  await readProgress(response, job, (event) => {
    digest ??= pushedDigest(event, image.tag);
  });
  if (!digest) throw new Error(NO_DIGEST);
  return digest;
}

/**
 * Fails unless Docker filed the pushed digest under `imageId`. Docker resolves the tag once as the push starts and
 * records the digest under the image it actually sent. A manifest names its image's config, whose digest is the
 * image id, so the digest is this image's whatever repository spelling Docker filed it under. The reference lock
 * keeps this agent's jobs apart; this catches anything else on the same Docker Engine that moved the tag meanwhile.
 */
async function checkPushed(docker: Docker, image: ImageRef, imageId: string, digest: string): Promise<void> {
  const { RepoDigests } = await docker
    .getImage(imageId)
    .inspect()
    .catch((error: unknown) => Promise.reject(aboutBuiltImage(error, imageId)));
  if (!RepoDigests.some((name) => name.endsWith(`@${digest}`))) {
    const moved = `the tag ${image.reference} was changed on the Docker Engine during the push`;
    throw new Error(`the push sent another image than this job built (${digest}): ${moved}`);
  }
}
