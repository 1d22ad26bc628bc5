/**
 * A context may come gzip-compressed on every path: its first two bytes
 * decide (gzip's magic, 1f 8b), not a header, so it works whatever a client
 * or a proxy did with Content-Type and Content-Encoding. The tar is checked
 * after decompression, and the check's byte cap (DOCKIFY_MAX_CONTEXT_BYTES)
 * is what stops a gzip bomb.
 *
 * That works only if decompression runs no further ahead of the check than a
 * buffer: node:zlib's stream stops inflating once its output buffer is full
 * until it is read. The runtime's DecompressionStream does not: fed a 5 MB
 * bomb it inflated it whole, and the Worker's process peaked at gigabytes.
 */
import { createGunzip } from "node:zlib";
import { ContextError } from "../../shared/context/rules";

const GZIP_MAGIC = [0x1f, 0x8b];
/** Inflated bytes per output chunk (Node's default is 16 KiB): fewer, larger chunks for the check to pass on. */
const OUTPUT_CHUNK_BYTES = 64 * 1024;
/**
 * Compressed bytes handed to zlib at a time, each only once it has taken the one before. It bounds the work left
 * once the check refuses: zlib inflates whatever input it holds as the stream ends, and deflate inflates up to about
 * 1,000 times, so a whole 1 MB source chunk of a bomb was 1 GB (698 ms of CPU); 16 KiB is at most about 16 MB.
 */
const INPUT_SLICE_BYTES = 16 * 1024;

/** The tar's bytes: the source as it is, or gunzipped when it starts with gzip's magic. */
export async function* decompressed(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const iterator = source[Symbol.asyncIterator]();
  const head: Uint8Array[] = [];
  let headBytes = 0;
  let ended = false;
  while (headBytes < GZIP_MAGIC.length) {
    const next = await iterator.next();
    if (next.done) {
      ended = true;
      break;
    }
    head.push(next.value);
    headBytes += next.value.length;
  }
  async function* all(): AsyncGenerator<Uint8Array> {
    try {
      yield* head;
      if (ended) return;
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
    } finally {
      // Stopped early: the source is told too (an R2 read is then cancelled; a request body is left to be drained).
      await iterator.return?.();
    }
  }
  const first = head.flatMap((chunk) => [...chunk.subarray(0, GZIP_MAGIC.length)]).slice(0, GZIP_MAGIC.length);
  if (first[0] !== GZIP_MAGIC[0] || first[1] !== GZIP_MAGIC[1]) {
    yield* all();
    return;
  }
  yield* gunzip(all());
}

/**
 * The inflater is never destroyed, nor left with work under way when the request ends: in the runtime's node:zlib
 * a callback of that work then runs on a torn-down stream and throws an uncaught error. So after the last chunk
 * the check wants, no more input goes in, the inflater is ended, and what it still makes of the input it already
 * has (at most one INPUT_SLICE_BYTES slice, and its output buffer) is read and dropped.
 */
async function* gunzip(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const inflater = createGunzip({ chunkSize: OUTPUT_CHUNK_BYTES });
  // The source's own failure (a body that broke off, a stalled client), told apart from gzip data that is corrupt.
  const fed: { failure?: { error: unknown } } = {};
  let stopped = false;
  // Corrupt data fails zlib with a write under way, whose callback then never comes: the feeding stops at that too.
  const failed = new Promise<void>((resolve) => {
    inflater.once("error", () => resolve());
    inflater.once("close", () => resolve());
  });
  /** Resolves once zlib has taken the slice, or failed (its error is the reader's to report, not the source's). */
  const write = (slice: Uint8Array) => Promise.race([new Promise<void>((resolve) => inflater.write(slice, () => resolve())), failed]);
  const feeding = (async () => {
    try {
      for await (const chunk of source) {
        for (let at = 0; at < chunk.length && !stopped; at += INPUT_SLICE_BYTES) await write(chunk.subarray(at, at + INPUT_SLICE_BYTES));
        if (stopped) break;
      }
    } catch (error) {
      fed.failure ??= { error };
    }
    // Cut short by a failed source, the data ends early and zlib says so; the source's failure is then the answer.
    inflater.end();
  })();
  try {
    for await (const chunk of inflater.iterator({ destroyOnReturn: false })) yield chunk as Uint8Array;
  } catch (error) {
    if (fed.failure) throw fed.failure.error;
    throw new ContextError(`the gzip data is corrupt (${error instanceof Error ? error.message : String(error)})`);
  } finally {
    stopped = true;
    // Read while the feeding finishes: the slice zlib holds is taken only as its output is read.
    const draining = (async () => {
      try {
        for await (const _dropped of inflater.iterator({ destroyOnReturn: false })) {
          // what zlib still makes of the input it had: read so its work ends here
        }
      } catch {
        // cut-off data: the answer is decided already
      }
    })();
    await feeding;
    await draining;
  }
  if (fed.failure) throw fed.failure.error;
}
