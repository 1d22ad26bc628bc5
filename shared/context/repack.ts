/**
 * A build context as Docker will receive it: the user's tar read entry by
 * entry, each entry checked (rules.ts), and a new archive written from the
 * entries that passed, never the user's own bytes. Docker then reads exactly
 * what was checked, in one canonical form, whatever tricks the original used.
 *
 * Streams: a file's data passes through in the chunks it arrived in. The
 * end-of-archive marker comes only after the whole archive has passed, but a
 * reader may take an archive cut at an entry's end for a whole one (Go's
 * archive/tar, which Docker uses, ends cleanly at EOF there). So a refusal
 * must also reach the consumer as a failure, which each consumer sees to:
 * the Worker aborts the multipart upload it was writing (context/store.ts),
 * and the agent's stream errors into dockerode, whose docker-modem destroys
 * the /build request when its body stream errors, so Docker reads a broken
 * upload, not a short archive (agent/context.ts).
 */
import { TooLargeError } from "../tar/byte-reader";
import { encodeHeader, END_OF_ARCHIVE, padding, TarError } from "../tar/header";
import { readTar } from "../tar/reader";
import { ContextChecker, ContextError, type ContextLimits } from "./rules";

export interface RepackOptions extends ContextLimits {
  /** The most bytes the archive may have (after decompression): more is refused as it streams. */
  maxBytes?: number;
}

/** The archive is larger than allowed; kept apart from other refusals so it can be answered as too large. */
export class ContextTooLargeError extends ContextError {}

/** The checked archive; throws ContextError (or ContextTooLargeError) at the first problem. */
export async function* repackContext(source: AsyncIterable<Uint8Array>, options: RepackOptions): AsyncGenerator<Uint8Array> {
  const checker = new ContextChecker(options);
  try {
    for await (const { entry, data } of readTar(source, options.maxBytes)) {
      const written = checker.admit(entry);
      if (written === null) continue;
      yield encodeHeader(written);
      if (written.type !== "file") continue;
      for await (const chunk of data) yield chunk;
      if (padding(written.size) > 0) yield new Uint8Array(padding(written.size));
    }
    checker.finish();
  } catch (error) {
    if (error instanceof TooLargeError) {
      throw new ContextTooLargeError(`the context is larger than ${error.maxBytes} bytes (uncompressed)`);
    }
    if (error instanceof TarError) throw new ContextError(error.message);
    throw error;
  }
  yield END_OF_ARCHIVE;
}
