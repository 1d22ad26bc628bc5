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

/** A request whose connection broke is sent this many times in all: 1, 2, 4, 8 and 16 s apart, half a minute for a link to come back. */
export const MAX_ATTEMPTS = 6;
const FIRST_RETRY_DELAY_MS = 1_000;

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
  /** A chunked upload an earlier run left is taken up again: `arrived` of its `parts` are there. */
  onResume?: (id: string, arrived: number, parts: number) => void;
  /** This run failed, and its chunked upload is kept for the next run to resume. */
  onKept?: (id: string) => void;
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
      await sleep(FIRST_RETRY_DELAY_MS * 2 ** (attempt - 1), options.signal);
    }
  }
}
