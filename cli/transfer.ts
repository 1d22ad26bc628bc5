/**
 * What the two ways of sending a context share (upload.ts: one request;
 * chunked.ts: parts): the submission's inputs, a file range as a request body
 * that reports its progress, and sending a request again when its connection
 * broke.
 */
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { NetworkError, type DockifyClient } from "./client";
import type { PackedContext } from "./context/pack";

/** A request whose connection broke is sent this many times in all. */
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
  /** The Worker is checking a completed chunked upload (it takes a while for a large one). */
  onChecking?: () => void;
  signal: AbortSignal;
}

/** A byte range of the file (the whole file by default) as a web stream, counting bytes as the request takes them. */
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

/** Sends `send` again (after a pause) while `retryable` says another try may help, up to MAX_ATTEMPTS in all. */
export async function withRetries<T>(
  what: string,
  send: () => Promise<T>,
  options: Pick<SubmitOptions, "onRetry" | "signal">,
  retryable: (error: unknown) => boolean = (error) => error instanceof NetworkError,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (error) {
      if (!retryable(error) || attempt >= MAX_ATTEMPTS || options.signal.aborted) throw error;
      options.onRetry(what, (error as Error).message);
      await sleep(RETRY_DELAY_MS * attempt, options.signal);
    }
  }
}
