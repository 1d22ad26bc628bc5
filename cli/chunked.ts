/**
 * A large context sent as a chunked upload (README, `/v1/uploads`): create
 * it, send its parts (the API's default part size, the last shorter) with
 * their SHA-256 in Content-Digest, a few at a time, each retried on its own
 * when its connection breaks or the Worker fails it, then complete it (the
 * Worker checks the tar) and submit the build naming it.
 *
 * Resumable: the upload's id is remembered (resume.ts) until a build takes it,
 * so when this run fails (the network gone for good, the process killed),
 * the same command run again finds the upload, asks which parts arrived, and
 * sends only the others. Ctrl-C is a decision, not a failure: it deletes the
 * upload, which then holds none of the tenant's bytes.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import {
  build as buildSchema,
  CONTENT_DIGEST_HEADER,
  DEFAULT_PART_BYTES,
  IDEMPOTENCY_HEADER,
  uploadDetail,
  uploadPart,
  type Build,
  type UploadDetail,
} from "../shared/api";
import { contentDigest } from "../shared/content-digest";
import { ApiRefusal, NetworkError, type DockifyClient } from "./client";
import { resumeKey, ResumeStore, uploadStatePath } from "./resume";
import { fileStream, withRetries, type SubmitOptions } from "./transfer";

/** Parts on the wire at once: enough to fill a link whose round trips are slow, few enough to stay gentle on the Worker. */
export const PARTS_AT_ONCE = 3;
/** Answers that another try may change: the Worker timed the body out, or failed on its side. */
const RETRIED_STATUSES: ReadonlySet<number> = new Set([408, 500, 502, 503, 504]);

export interface PartRange {
  number: number;
  start: number;
  end: number;
}

/** The parts of `size` bytes in parts of `partSize`: every one full but the last. */
export function partRanges(size: number, partSize: number): PartRange[] {
  const ranges: PartRange[] = [];
  for (let start = 0, number = 1; start < size; start += partSize, number++) ranges.push({ number, start, end: Math.min(start + partSize, size) });
  return ranges;
}

/** The base64 SHA-256 of a byte range of a file, read as a stream. */
export async function sha256OfRange(path: string, { start, end }: { start: number; end: number }): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path, { start, end: end - 1 })) hash.update(chunk as Buffer);
  return hash.digest("base64");
}

function retryable(error: unknown): boolean {
  return error instanceof NetworkError || (error instanceof ApiRefusal && RETRIED_STATUSES.has(error.status));
}

/** Sends `send` again while it fails in a way another try may change. */
function retried<T>(what: string, send: () => Promise<T>, options: SubmitOptions): Promise<T> {
  return withRetries(what, send, options, retryable);
}

/** The remembered upload, if the Worker still has it open (or ready) for this very context. */
async function resumable(client: DockifyClient, id: string | undefined, size: number, options: SubmitOptions): Promise<UploadDetail | undefined> {
  if (id === undefined) return undefined;
  try {
    const path = `/v1/uploads/${id}`;
    const found = await retried(`GET ${path}`, async () => client.json(`GET ${path}`, await client.fetch("GET", path, { signal: options.signal }), uploadDetail), options);
    return found.size === size && found.part_size === DEFAULT_PART_BYTES && (found.state === "open" || found.state === "ready") ? found : undefined;
  } catch (error) {
    // Gone (expired, deleted, built from): start afresh.
    if (error instanceof ApiRefusal && error.status === 404) return undefined;
    throw error;
  }
}

export async function submitChunked(options: SubmitOptions, idempotencyKey: string): Promise<Build> {
  const { client, packed, signal } = options;
  const store = new ResumeStore(uploadStatePath(process.env));
  const whole = await sha256OfRange(packed.file, { start: 0, end: packed.bytes });
  const key = resumeKey({ url: client.settings.url, token: client.settings.token, sha256: whole, size: packed.bytes, partSize: DEFAULT_PART_BYTES });

  let upload = await resumable(client, store.find(key), packed.bytes, options);
  if (upload) {
    options.onResume?.(upload.id, upload.parts.length, upload.part_count);
  } else {
    upload = await retried(
      "POST /v1/uploads",
      async () => {
        const response = await client.fetch("POST", "/v1/uploads", {
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ size: packed.bytes, part_size: DEFAULT_PART_BYTES }),
          signal,
        });
        return client.json("POST /v1/uploads", response, uploadDetail);
      },
      options,
    );
    store.save(key, upload.id);
  }
  const id = upload.id;
  try {
    if (upload.state === "open") {
      const arrived = new Map(upload.parts.map((part) => [part.number, part.sha256]));
      await sendParts(client, id, partRanges(packed.bytes, upload.part_size), arrived, options);
      options.onBodySent();
      options.onChecking?.();
      const path = `/v1/uploads/${id}/complete`;
      // Completing again after a lost answer is safe: the Worker answers a completed upload with it as it is.
      await retried(`POST ${path}`, async () => client.json(`POST ${path}`, await client.fetch("POST", path, { signal }), uploadDetail), options);
    } else {
      options.onBodySent();
    }
    const query = new URLSearchParams([...options.query, ["upload", id]]);
    const build = await retried(
      "POST /v1/builds",
      async () => {
        const response = await client.fetch("POST", `/v1/builds?${query}`, { headers: { ...options.headers, [IDEMPOTENCY_HEADER]: idempotencyKey }, signal });
        return client.json("POST /v1/builds", response, buildSchema);
      },
      options,
    );
    // The build has taken the upload over: there is nothing left to resume.
    store.forget(key);
    return build;
  } catch (error) {
    if (signal.aborted || (error instanceof ApiRefusal && !RETRIED_STATUSES.has(error.status))) {
      // Interrupted, or refused (a context that fails the check is deleted by the Worker already): nothing to resume.
      store.forget(key);
      await client.fetch("DELETE", `/v1/uploads/${id}`).catch(() => undefined);
    } else {
      options.onKept?.(id);
    }
    throw error;
  }
}

async function sendParts(client: DockifyClient, id: string, ranges: PartRange[], arrived: ReadonlyMap<number, string>, options: SubmitOptions): Promise<void> {
  const { packed, signal } = options;
  const inFlight = new Map<number, number>();
  let confirmed = 0;
  const report = () => options.onProgress(confirmed + [...inFlight.values()].reduce((sum, bytes) => sum + bytes, 0));
  const queue = [...ranges];

  const sendOne = async (range: PartRange) => {
    const sha256 = await sha256OfRange(packed.file, range);
    // Sent by an earlier run, and the very same bytes: kept.
    if (arrived.get(range.number) !== sha256) {
      const path = `/v1/uploads/${id}/parts/${range.number}`;
      await retried(
        `PUT ${path}`,
        async () => {
          inFlight.set(range.number, 0);
          const body = fileStream(
            packed.file,
            (bytes) => {
              inFlight.set(range.number, (inFlight.get(range.number) ?? 0) + bytes);
              report();
            },
            range,
          );
          const response = await client.fetch("PUT", path, {
            headers: { [CONTENT_DIGEST_HEADER]: contentDigest(sha256), "Content-Length": String(range.end - range.start), "Content-Type": "application/octet-stream" },
            body,
            signal,
          });
          const part = await client.json(`PUT ${path}`, response, uploadPart);
          if (part.sha256 !== sha256) throw new NetworkError(`PUT ${path}: the Worker kept a part whose SHA-256 is not the one sent`);
        },
        options,
      );
      inFlight.delete(range.number);
    }
    confirmed += range.end - range.start;
    report();
  };

  const worker = async () => {
    for (let range = queue.shift(); range !== undefined; range = queue.shift()) await sendOne(range);
  };
  await Promise.all(Array.from({ length: Math.min(PARTS_AT_ONCE, ranges.length) }, worker));
}
