/**
 * Sending a packed context and submitting its build. A context up to
 * SINGLE_REQUEST_MAX_BYTES goes as the body of `POST /v1/builds` itself,
 * streamed from the file; a larger one goes up in parts first (chunked.ts)
 * and the build then names the finished upload. Either way the submission
 * carries an Idempotency-Key, so a retry after a lost answer cannot start the
 * build twice.
 */
import { randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { build as buildSchema, IDEMPOTENCY_HEADER, type Build } from "../shared/api";
import { NetworkError, type DockifyClient } from "./client";
import type { PackedContext } from "./context/pack";
import { CliError } from "./errors";

/**
 * Contexts up to this size go in one request: one part's worth (the chunked path's default part size), where parts
 * would buy no retry granularity, and far under the 100 MB a Worker request may carry on Cloudflare's Free and Pro plans.
 */
export const SINGLE_REQUEST_MAX_BYTES = 16 * 1024 * 1024;
/** A request whose connection broke is sent again this many times in all. */
export const MAX_ATTEMPTS = 4;
const RETRY_DELAY_MS = 1_000;

export interface SubmitOptions {
  client: DockifyClient;
  packed: PackedContext;
  query: [string, string][];
  /** Secret headers (password, logins, secrets). */
  headers: Record<string, string>;
  /** Bytes sent so far, as they go. */
  onProgress: (sent: number) => void;
  /** Told when a request is sent again, with why. */
  onRetry: (what: string, reason: string) => void;
  /** The whole body is sent: an interrupt from now on may find a build already made. */
  onBodySent: () => void;
  signal: AbortSignal;
}

/** A byte range of the file as a web stream, counting bytes as the request takes them. */
export function fileStream(path: string, onBytes: (bytes: number) => void, range?: { start: number; end: number }): ReadableStream<Uint8Array> {
  const file = createReadStream(path, range ? { start: range.start, end: range.end - 1 } : {});
  file.on("data", (chunk) => onBytes(chunk.length));
  return Readable.toWeb(file) as ReadableStream<Uint8Array>;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    });
  });
}

/** Sends `send` again (with a pause) while its connection breaks, up to MAX_ATTEMPTS in all. */
export async function withRetries<T>(what: string, send: () => Promise<T>, onRetry: SubmitOptions["onRetry"], signal: AbortSignal): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (error) {
      if (!(error instanceof NetworkError) || attempt >= MAX_ATTEMPTS || signal.aborted) throw error;
      onRetry(what, error.message);
      await sleep(RETRY_DELAY_MS * attempt, signal);
    }
  }
}

function searchOf(query: [string, string][]): string {
  return new URLSearchParams(query).toString();
}

/** `POST /v1/builds` with the context as its body. */
async function submitInOneRequest(options: SubmitOptions, idempotencyKey: string): Promise<Build> {
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
      const response = await client.fetch("POST", `/v1/builds?${searchOf(options.query)}`, {
        headers: {
          ...options.headers,
          "Content-Type": "application/gzip",
          "Content-Length": String(packed.bytes),
          [IDEMPOTENCY_HEADER]: idempotencyKey,
        },
        body,
        signal,
      });
      return client.json("POST /v1/builds", response, buildSchema);
    },
    options.onRetry,
    signal,
  );
}

export async function submitBuild(options: SubmitOptions): Promise<Build> {
  const idempotencyKey = randomUUID();
  if (options.packed.bytes <= SINGLE_REQUEST_MAX_BYTES) return submitInOneRequest(options, idempotencyKey);
  throw new CliError("contexts over 16 MiB go up in parts: not yet available");
}
