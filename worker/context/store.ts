/**
 * Build contexts in R2: one tar object a job, written as a stream of known
 * length (R2 needs it), from uploaded files packed here or from a user's own
 * tarball checked on its way through.
 */
import { ApiError } from "../errors";
import { tarInspector } from "./tar-inspector";
import { tarLength, tarStream, type TarEntry } from "./tar-writer";

export function contextKey(jobId: string): string {
  return `contexts/${jobId}.tar`;
}

/** A build's context before it is stored: its size, what the response says of it, and how to write it. */
export interface ContextSource {
  bytes: number;
  write(bucket: R2Bucket, jobId: string): Promise<void>;
}

async function put(bucket: R2Bucket, jobId: string, body: ReadableStream<Uint8Array>, length: number): Promise<void> {
  const fixed = new FixedLengthStream(length);
  const [piped, stored] = await Promise.allSettled([
    body.pipeTo(fixed.writable),
    bucket.put(contextKey(jobId), fixed.readable, { httpMetadata: { contentType: "application/x-tar" } }),
  ]);
  // The body's own error says why (a refused tar entry, a short upload); R2's then only says the stream failed.
  if (piped.status === "rejected") {
    if (piped.reason instanceof ApiError) throw piped.reason;
    throw new ApiError(400, `the context upload broke off: ${String(piped.reason)}`, "context");
  }
  if (stored.status === "rejected") throw stored.reason;
}

/** Files from a multipart upload, packed into a tar on the way. */
export function filesContext(entries: readonly TarEntry[]): ContextSource {
  const bytes = tarLength(entries);
  return { bytes, write: (bucket, jobId) => put(bucket, jobId, tarStream(entries, Math.floor(Date.now() / 1000)), bytes) };
}

/**
 * A user's tarball of `bytes` (its Content-Length), checked entry by entry as it streams into R2. A refused
 * tarball's body is still read to its end before the refusal is answered: a request body cancelled mid-upload
 * leaves the runtime's connection half-read, and under `wrangler dev` the next request on it failed (#13).
 */
export function tarballContext(body: ReadableStream<Uint8Array>, bytes: number, maxEntries: number): ContextSource {
  return {
    bytes,
    write: async (bucket, jobId) => {
      const inspector = tarInspector(maxEntries);
      // Handled from the start: a refusal rejects this while `put` is still being awaited, and an unhandled
      // rejection is what stops a Worker. `put` reports the refusal itself.
      const piped = body.pipeTo(inspector.writable, { preventCancel: true }).catch(() => undefined);
      try {
        await put(bucket, jobId, inspector.readable, bytes);
      } catch (error) {
        // Whatever is left after a refusal is read and dropped before the refusal is answered.
        await piped;
        await discard(body);
        throw error;
      }
      await piped;
    },
  };
}

/** Reads what is left of a body and drops it; the body is at most the request size the route allowed. */
async function discard(body: ReadableStream<Uint8Array>): Promise<void> {
  await body.pipeTo(new WritableStream()).catch(() => undefined);
}

export async function openContext(bucket: R2Bucket, jobId: string): Promise<R2ObjectBody | null> {
  return bucket.get(contextKey(jobId));
}

export async function deleteContext(bucket: R2Bucket, jobId: string): Promise<void> {
  await bucket.delete(contextKey(jobId));
}
