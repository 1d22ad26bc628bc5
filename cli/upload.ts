/**
 * Sending a packed context and submitting its build. A context up to
 * SINGLE_REQUEST_MAX_BYTES goes as the body of `POST /v1/builds` itself,
 * streamed from the file; a larger one goes up in parts first (chunked.ts),
 * and the build then names the finished upload. Either way the submission
 * carries an Idempotency-Key, so a retry after a lost answer cannot start the
 * build twice.
 */
import { randomUUID } from "node:crypto";
import { build as buildSchema, IDEMPOTENCY_HEADER, type Build } from "../shared/api";
import { submitChunked } from "./chunked";
import { ApiRefusal } from "./client";
import { fileStream, withRetries, type SubmitOptions } from "./transfer";

/**
 * Contexts up to this size go in one request: one part's worth (the largest part the Worker takes by default,
 * DOCKIFY_MAX_PART_BYTES), where parts would buy little retry granularity, half of DOCKIFY_MAX_REQUEST_BYTES' default,
 * and far under the 100 MB a Worker request may carry on Cloudflare's Free and Pro plans. A Worker set to take less
 * in one request answers 413, and the context goes up in parts after all.
 */
export const SINGLE_REQUEST_MAX_BYTES = 16 * 1024 * 1024;

/** `POST /v1/builds` with the context as its body. */
function submitInOneRequest(options: SubmitOptions, idempotencyKey: string): Promise<Build> {
  const { client, packed, signal } = options;
  return withRetries(
    "POST /v1/builds",
    async () => {
      let sent = 0;
      const body = fileStream(packed.file, (bytes) => {
        sent += bytes;
        options.onProgress(sent);
        if (sent === packed.bytes) options.onBodySent();
      });
      const response = await client.fetch("POST", `/v1/builds?${new URLSearchParams(options.query)}`, {
        headers: { ...options.headers, "Content-Type": "application/gzip", "Content-Length": String(packed.bytes), [IDEMPOTENCY_HEADER]: idempotencyKey },
        body,
        signal,
      });
      return client.json("POST /v1/builds", response, buildSchema);
    },
    options,
  );
}

export async function submitBuild(options: SubmitOptions): Promise<Build> {
  const idempotencyKey = randomUUID();
  if (options.packed.bytes > SINGLE_REQUEST_MAX_BYTES) return submitChunked(options, idempotencyKey);
  try {
    return await submitInOneRequest(options, idempotencyKey);
  } catch (error) {
    if (!(error instanceof ApiRefusal && error.status === 413 && error.field === "body")) throw error;
    options.onRetry("POST /v1/builds with the context in its body", `${error.message}; it goes in parts instead`);
    return submitChunked(options, idempotencyKey);
  }
}
