/**
 * A context may come gzip-compressed on every path: its first two bytes
 * decide (gzip's magic, 1f 8b), not a header, so it works whatever a client
 * or a proxy did with Content-Type and Content-Encoding. The tar is checked
 * after decompression, and the check's byte cap (DOCKIFY_MAX_CONTEXT_BYTES)
 * is what stops a gzip bomb: decompression runs only as fast as the check
 * reads, so it stops within a chunk of the cap.
 */
import { ContextError } from "../../shared/context/rules";

const GZIP_MAGIC = [0x1f, 0x8b];


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
    yield* head;
    if (ended) return;
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
  }
  const first = head.length > 0 ? new Uint8Array(head.flatMap((chunk) => [...chunk.subarray(0, 2)]).slice(0, 2)) : new Uint8Array(0);
  if (first[0] !== GZIP_MAGIC[0] || first[1] !== GZIP_MAGIC[1]) {
    yield* all();
    return;
  }
  yield* gunzip(all());
}

async function* gunzip(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const gzip = new DecompressionStream("gzip");
  const writer = gzip.writable.getWriter();
  // The source's own failure (a body that broke off, a stalled client), told apart from gzip data that is corrupt.
  const fed: { failure?: { error: unknown } } = {};
  // Fed as the output is read: write() waits for room, so the compressed side never runs ahead by much.
  const feeding = (async () => {
    try {
      for await (const chunk of source) await writer.write(chunk);
      await writer.close();
    } catch (error) {
      fed.failure ??= { error };
      await writer.abort(error).catch(() => undefined);
    }
  })();
  const reader = gzip.readable.getReader();
  try {
    for (;;) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (error) {
        if (fed.failure) throw fed.failure.error;
        throw new ContextError(`the gzip data is corrupt (${error instanceof Error ? error.message : String(error)})`);
      }
      if (next.done) break;
      yield next.value;
    }
  } finally {
    // Stopped early (the check refused): stop decompressing and feeding.
    await reader.cancel().catch(() => undefined);
    await feeding;
  }
}
