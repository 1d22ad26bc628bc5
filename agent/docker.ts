/**
 * The Docker Engine's API as every builder meets it through dockerode: its
 * errors, turned back into the daemon's own message; its progress streams
 * (build, push), read line by line into the job's log; removing a local image.
 */
import { addAbortSignal, type Readable } from "node:stream";
import type Docker from "dockerode";
import { z } from "zod";
import type { BuildJob } from "./builders/builder";
import { normalizedReference } from "./docker-name";
import { eventError, eventLogText, readDockerStream, type DockerEvent } from "./docker-stream";
import { EngineFailure, isEngineFailure } from "./engine-failure";
import { describeError } from "./errors";
import { KeyedLock } from "./keyed-lock";

const HTTP_NOT_FOUND = 404;

/**
 * One per agent process, shared by all its jobs and whichever builder runs them: the tag it guards is the
 * Engine's, not a builder's. Keyed by the name Docker files a reference under, so two spellings of one tag are one key.
 */
const referenceLock = new KeyedLock();

/**
 * Runs `task` while this process holds the local tag `reference` (to tag, push and untag it); waits for any other
 * job of this agent holding it. An abort while waiting rejects without running `task`.
 */
export function holdingReference<T>(reference: string, signal: AbortSignal, task: () => Promise<T>): Promise<T> {
  return referenceLock.run(normalizedReference(reference), signal, task);
}

/** dockerode's error for an HTTP failure: the daemon's answer is `json` for plain calls, only in the message for streams. */
const daemonFailure = z.object({
  statusCode: z.number().optional(),
  json: z.object({ message: z.string() }).nullish().catch(undefined),
});
/** What docker-modem puts before the daemon's message, e.g. "(HTTP code 400) unexpected - ". */
const MODEM_PREFIX = /^\(HTTP code \d+\) [^-]* - /;

/** The daemon's own message, without dockerode's wrapping; an EngineFailure when the trouble is the Engine's (engine-failure.ts). */
export function daemonError(error: unknown): Error {
  const answer = daemonFailure.safeParse(error).data?.json?.message;
  const message = answer ?? describeError(error).replace(MODEM_PREFIX, "").trim();
  return isEngineFailure(error) ? new EngineFailure(message) : new Error(message);
}

/** The HTTP status of the daemon's answer that `error` reports, if it is one. */
export function daemonStatus(error: unknown): number | undefined {
  return daemonFailure.safeParse(error).data?.statusCode;
}

/** True when the daemon answered that what was asked for does not exist. */
export function isNotFound(error: unknown): boolean {
  return daemonStatus(error) === HTTP_NOT_FOUND;
}

/** Removes a local tag (and the layers only it used). Returns why it could not, or undefined. */
export async function removeImage(docker: Docker, reference: string): Promise<string | undefined> {
  try {
    await docker.getImage(reference).remove();
    return undefined;
  } catch (error) {
    // Nothing to remove: the build never tagged it.
    if (isNotFound(error)) return undefined;
    return daemonError(error).message;
  }
}

/**
 * Reads a progress stream to its end: what a user should see goes to `log`, every event to `onEvent`. A failure
 * inside the stream (Docker answers 200 and reports it in a line) rejects with Docker's message.
 */
export async function readProgress(
  response: NodeJS.ReadableStream,
  job: Pick<BuildJob, "signal" | "log">,
  onEvent: (event: DockerEvent) => void,
): Promise<void> {
  const body = response as Readable;
  // docker-modem ties the abort signal to the request only; once the response streams, abort must end it too.
  addAbortSignal(job.signal, body);
  for await (const line of readDockerStream(body)) {
    if ("text" in line) {
      job.log.write(`${line.text}\n`);
      continue;
    }
    const error = eventError(line.event);
    if (error) throw new Error(error);
    const text = eventLogText(line.event);
    if (text) job.log.write(text);
    onEvent(line.event);
  }
}
