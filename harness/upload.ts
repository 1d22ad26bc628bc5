/**
 * Sends a file as a chunked upload, the way a client should: parts in
 * parallel, each read from the file when its turn comes (memory: concurrency
 * × part size), each retried on its own, and an interrupted upload resumed by
 * sending only the parts the Worker does not list. Then completes it. Tests
 * and the bench use it; it is the pattern for the CLI.
 */
import { open, stat } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import type { UploadDetail } from "../shared/api";
import { ok, type ApiClient } from "./api";

export interface UploadFileOptions {
  /** Bytes per part (the Worker's default when unset). */
  partSize?: number;
  /** Parts in flight at once (default 4). */
  concurrency?: number;
  /** Resume this upload instead of creating one. */
  resume?: string;
  /** Called after each part with the bytes sent so far. */
  onProgress?: (sentBytes: number, totalBytes: number) => void;
  /** Tries per part before giving up (default 3). */
  attempts?: number;
  /** Complete it once every part is there (default true); false returns it still open, every part sent. */
  complete?: boolean;
}

const RETRY_DELAY_MS = 500;

/** Uploads and (unless told not to) completes `path`; returns the upload, ready. */
export async function uploadFile(api: ApiClient, path: string, options: UploadFileOptions = {}): Promise<UploadDetail> {
  const { size } = await stat(path);
  const upload = options.resume
    ? ok(await api.upload(options.resume))
    : ok(await api.createUpload({ size, ...(options.partSize ? { part_size: options.partSize } : {}) }), 201);
  const received = new Set(upload.parts.map((part) => part.number));
  const missing = Array.from({ length: upload.part_count }, (_, index) => index + 1).filter((number) => !received.has(number));
  let sent = upload.parts.reduce((total, part) => total + part.size, 0);
  const file = await open(path, "r");
  try {
    const sendPart = async (number: number) => {
      const offset = (number - 1) * upload.part_size;
      const bytes = Buffer.alloc(Math.min(upload.part_size, size - offset));
      await file.read(bytes, 0, bytes.length, offset);
      for (let attempt = 1; ; attempt++) {
        try {
          ok(await api.putPart(upload.id, number, bytes));
          break;
        } catch (error) {
          if (attempt >= (options.attempts ?? 3)) throw error;
          await sleep(RETRY_DELAY_MS * attempt);
        }
      }
      sent += bytes.length;
      options.onProgress?.(sent, size);
    };
    const queue = [...missing];
    const workers = Array.from({ length: Math.min(options.concurrency ?? 4, queue.length) }, async () => {
      for (let number = queue.shift(); number !== undefined; number = queue.shift()) await sendPart(number);
    });
    await Promise.all(workers);
  } finally {
    await file.close();
  }
  return options.complete === false ? ok(await api.upload(upload.id)) : ok(await api.completeUpload(upload.id));
}
