/**
 * Build contexts in R2. Every context is stored the same way, whichever path
 * it came by (the seed's form, a tar body, a chunked upload): its tar,
 * gunzipped if it was compressed, is checked entry by entry and written anew
 * from the checked entries (shared/context/repack.ts), in parts of a
 * multipart upload (part-writer.ts). What R2 holds, and the agent receives,
 * is what was checked, never the user's own bytes.
 */
import { ContextTooLargeError, repackContext } from "../../shared/context/repack";
import { ContextError, DockerfileTooLargeError } from "../../shared/context/rules";
import { ApiError } from "../errors";
import { decompressed } from "./decompress";
import { R2PartWriter } from "./part-writer";

export interface StoreOptions {
  maxEntries: number;
  /** The most bytes the tar may have, after decompression. */
  maxBytes: number;
  /** Where the Dockerfile must be, a regular file: the build's `dockerfile` field (default `Dockerfile`). */
  dockerfile?: string;
  /** The most bytes the Dockerfile may have (DOCKIFY_MAX_DOCKERFILE_BYTES); past it, 413 naming dockerfile. */
  maxDockerfileBytes: number;
  /** Told the id of the multipart upload before its first part is sent, so a sweep can abort it after a crash. */
  onMultipart: (multipartId: string) => Promise<void>;
  /** Called once the whole archive has passed, before the object is made visible; throwing stops it. */
  beforeFinish?: () => Promise<void>;
  /** Checked before each chunk goes on to R2: once aborted, the work stops and its reason is thrown (keep-alive.ts). */
  signal?: AbortSignal;
  /** Counts the checked bytes written so far, for the renewals that hold them against the tenant's limit. */
  written?: { bytes: number };
}

/** A refused context as the API answers it: 413 past a size cap (naming `dockerfile` for the Dockerfile's), 400 otherwise, naming `context`. */
export function contextRefusal(error: ContextError): ApiError {
  if (error instanceof DockerfileTooLargeError) return new ApiError(413, `dockerfile: ${error.message}`, "dockerfile");
  return new ApiError(error instanceof ContextTooLargeError ? 413 : 400, `context: ${error.message}`, "context");
}

/**
 * Checks the tar from `source` and writes the checked archive to `key`; returns the bytes stored. Throws an
 * ApiError for a refused context, or whatever the source threw (a body that broke off or stalled); nothing is
 * stored then.
 */
export async function storeCheckedContext(bucket: R2Bucket, key: string, source: AsyncIterable<Uint8Array>, options: StoreOptions): Promise<number> {
  const writer = new R2PartWriter(bucket, key, options.onMultipart);
  try {
    for await (const chunk of repackContext(decompressed(source), options)) {
      options.signal?.throwIfAborted();
      await writer.write(chunk);
      if (options.written) options.written.bytes += chunk.length;
    }
    options.signal?.throwIfAborted();
    await options.beforeFinish?.();
    return await writer.finish();
  } catch (error) {
    await writer.abort();
    if (error instanceof ContextError) throw contextRefusal(error);
    throw error;
  }
}

export async function openContext(bucket: R2Bucket, key: string): Promise<R2ObjectBody | null> {
  return bucket.get(key);
}

export async function deleteContext(bucket: R2Bucket, key: string): Promise<void> {
  await bucket.delete(key);
}
