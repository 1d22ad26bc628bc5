/**
 * Docker's build and push through dockerode, their progress streams read line
 * by line into the job's log. Failures come back as errors carrying the
 * daemon's or the registry's own message.
 *
 * A build is tagged only with a name of its own job and attempt (`buildTag`),
 * never with the job's reference: two jobs of one agent may name the same
 * reference, and a push sends whatever the reference points at when it starts.
 * The reference is put on the built image only for its push (`tagImage`).
 */
import { addAbortSignal, type Readable } from "node:stream";
import type Docker from "dockerode";
import { z } from "zod";
import { DOCKERFILE_PATH } from "../shared/context-path";
import { formatRepository } from "../shared/reference";
import type { Assignment, RegistryAuth } from "../shared/protocol";
import { isolationOptions, type BuildIsolation } from "./build-isolation";
import { eventError, eventLogText, pushedDigest, readDockerStream, type DockerEvent } from "./docker-stream";
import { describeError } from "./errors";
import type { LogStreamer } from "./log-streamer";

const NO_IMAGE_ID = "the build ended without reporting an image id";
const NO_DIGEST = "the push ended without reporting the pushed digest";
/** The local repository of every build; it is never pushed. */
const BUILD_REPOSITORY = "dockify-build";
const HTTP_NOT_FOUND = 404;

/**
 * Docker 20.10 refuses a push without an X-Registry-Auth header ("Bad parameters
 * and missing X-Registry-Auth"); an empty one means anonymous, as the CLI sends it.
 */
const ANONYMOUS = {};

export interface DockerJob {
  docker: Docker;
  image: Assignment["image"];
  /** The build's own local name, from `buildTag`. */
  buildTag: string;
  auth: RegistryAuth | undefined;
  signal: AbortSignal;
  logs: LogStreamer;
  /** The operator's network and limits for RUN steps. */
  isolation: BuildIsolation;
}

/** dockerode's error for an HTTP failure: the daemon's answer is `json` for plain calls, only in the message for streams. */
const daemonFailure = z.object({
  statusCode: z.number().optional(),
  json: z.object({ message: z.string() }).nullish().catch(undefined),
});
/** What docker-modem puts before the daemon's message, e.g. "(HTTP code 400) unexpected - ". */
const MODEM_PREFIX = /^\(HTTP code \d+\) [^-]* - /;

/** The daemon's own message, without dockerode's wrapping. */
function daemonError(error: unknown): Error {
  const answer = daemonFailure.safeParse(error).data?.json?.message;
  return new Error(answer ?? describeError(error).replace(MODEM_PREFIX, "").trim());
}

/**
 * The local name of one attempt's build, unique to it: `dockify-build:<job id>-<attempt>`. The protocol makes job
 * ids UUIDs, which fit the tag grammar (letters, digits and '-', 36 of 128 characters).
 */
export function buildTag(jobId: string, attempt: number): string {
  return `${BUILD_REPOSITORY}:${jobId}-${attempt}`;
}

/** Builds the context with the classic builder under the job's `buildTag`; returns the image id. */
export async function buildImage(job: DockerJob, context: Readable): Promise<string> {
  const { auth } = job;
  // Everything a build may use on the host is decided here; only the build's tag (its job id and attempt) and the
  // registry login come from the job. The classic builder gives RUN containers no volumes and no host folders (so
  // never the Docker socket; only the hosts, hostname and resolv.conf files Docker writes for every container) and
  // has no privileged mode; we pass no build arguments, extra hosts or cgroup parent. Network and limits: the operator's.
  const response = await job.docker
    .buildImage(context, {
      t: job.buildTag,
      dockerfile: DOCKERFILE_PATH,
      rm: true,
      forcerm: true,
      abortSignal: job.signal,
      ...isolationOptions(job.isolation),
      // Lets the build pull a private base image from the registry the job pushes to.
      ...(auth && { registryconfig: { [auth.serveraddress]: { username: auth.username, password: auth.password } } }),
    })
    .catch((error: unknown) => Promise.reject(daemonError(error)));
  let imageId: string | undefined;
  await follow(response, job, (event) => {
    imageId = event.aux?.ID ?? imageId;
  });
  if (!imageId) throw new Error(NO_IMAGE_ID);
  return imageId;
}

/** Puts the job's reference on the image it built. Whoever calls this holds the reference until it is removed again. */
export async function tagImage(job: DockerJob, imageId: string): Promise<void> {
  const { image } = job;
  await job.docker
    .getImage(imageId)
    .tag({ repo: formatRepository(image), tag: image.tag })
    .catch((error: unknown) => Promise.reject(daemonError(error)));
}

/** Pushes exactly the job's tag, which must point at `imageId`; returns the manifest digest the registry stored. */
export async function pushImage(job: DockerJob, imageId: string): Promise<string> {
  const { image } = job;
  const response = await job.docker
    // dockerode names the image in the URL path and takes the tag as a separate parameter: the repository alone here.
    .getImage(formatRepository(image))
    // Without `tag`, the daemon pushes every local tag of the repository.
    .push({ tag: image.tag, authconfig: job.auth ?? ANONYMOUS, abortSignal: job.signal })
    .catch((error: unknown) => Promise.reject(daemonError(error)));
  let digest: string | undefined;
  await follow(response, job, (event) => {
    digest ??= pushedDigest(event, image.tag);
  });
  if (!digest) throw new Error(NO_DIGEST);
  await checkPushedImage(job, imageId, digest);
  return digest;
}

/**
 * Fails unless Docker filed the pushed digest under `imageId`. Docker resolves the tag once as the push starts and
 * records the digest under the image it actually sent. A manifest names its image's config, whose digest is the
 * image id, so the digest is this image's whatever repository spelling Docker filed it under. The agent's lock
 * keeps its own jobs apart; this catches anything else on the same Docker Engine that moved the tag meanwhile.
 */
async function checkPushedImage(job: DockerJob, imageId: string, digest: string): Promise<void> {
  const { RepoDigests } = await job.docker
    .getImage(imageId)
    .inspect()
    .catch((error: unknown) => Promise.reject(daemonError(error)));
  if (!RepoDigests.some((name) => name.endsWith(`@${digest}`))) {
    const moved = `the tag ${job.image.reference} was changed on the Docker Engine during the push`;
    throw new Error(`the push sent another image than this job built (${digest}): ${moved}`);
  }
}

/** Removes a local tag (and the layers only it used). Returns why it could not, or undefined. */
export async function removeImage(docker: Docker, reference: string): Promise<string | undefined> {
  try {
    await docker.getImage(reference).remove();
    return undefined;
  } catch (error) {
    // Nothing to remove: the build never tagged it.
    if (daemonFailure.safeParse(error).data?.statusCode === HTTP_NOT_FOUND) return undefined;
    return daemonError(error).message;
  }
}

async function follow(response: NodeJS.ReadableStream, job: DockerJob, onEvent: (event: DockerEvent) => void): Promise<void> {
  const body = response as Readable;
  // docker-modem ties the abort signal to the request only; once the response streams, abort must end it too.
  addAbortSignal(job.signal, body);
  for await (const line of readDockerStream(body)) {
    if ("text" in line) {
      job.logs.write(`${line.text}\n`);
      continue;
    }
    const error = eventError(line.event);
    if (error) throw new Error(error);
    const text = eventLogText(line.event);
    if (text) job.logs.write(text);
    onEvent(line.event);
  }
}
