/** Build contexts in R2: one tar object a job, written as a stream of known length. */
import { tarLength, tarStream, type TarEntry } from "./tar";

export function contextKey(jobId: string): string {
  return `contexts/${jobId}.tar`;
}

export async function storeContext(bucket: R2Bucket, jobId: string, entries: readonly TarEntry[]): Promise<void> {
  const length = tarLength(entries);
  const fixed = new FixedLengthStream(length);
  const piping = tarStream(entries, Math.floor(Date.now() / 1000)).pipeTo(fixed.writable);
  await Promise.all([bucket.put(contextKey(jobId), fixed.readable, { httpMetadata: { contentType: "application/x-tar" } }), piping]);
}

export async function openContext(bucket: R2Bucket, jobId: string): Promise<R2ObjectBody | null> {
  return bucket.get(contextKey(jobId));
}

export async function deleteContext(bucket: R2Bucket, jobId: string): Promise<void> {
  await bucket.delete(contextKey(jobId));
}
