/**
 * Pulls bytes from a stream of chunks: exact blocks for headers, and runs of
 * data passed on as views of the chunks they arrived in, so a file's content
 * is never gathered in memory. Counts what it has read and refuses past a cap.
 */
import { TarError } from "./header";

/** The stream held more bytes than allowed; with gzip, counted after decompression. */
export class TooLargeError extends TarError {
  constructor(readonly maxBytes: number) {
    super(`the archive is larger than ${maxBytes} bytes`);
  }
}

const EMPTY = new Uint8Array(0);

export class ByteReader {
  #chunk: Uint8Array = EMPTY;
  #offset = 0;
  #done = false;
  /** Bytes handed out so far. */
  position = 0;

  constructor(
    private readonly source: AsyncIterator<Uint8Array>,
    private readonly maxBytes = Number.POSITIVE_INFINITY,
  ) {}

  /** Makes unread bytes available; false once the stream has ended. */
  async #fill(): Promise<boolean> {
    while (this.#offset >= this.#chunk.length) {
      if (this.#done) return false;
      const next = await this.source.next();
      if (next.done) {
        this.#done = true;
        return false;
      }
      this.#chunk = next.value;
      this.#offset = 0;
    }
    return true;
  }

  #advance(count: number): void {
    this.#offset += count;
    this.position += count;
    if (this.position > this.maxBytes) throw new TooLargeError(this.maxBytes);
  }

  /** Exactly `count` bytes in a buffer of their own; null when the stream ended before the first of them. */
  async readExact(count: number, what: string): Promise<Uint8Array | null> {
    const out = new Uint8Array(count);
    let filled = 0;
    while (filled < count) {
      if (!(await this.#fill())) {
        if (filled === 0) return null;
        throw new TarError(`the archive is cut off in ${what}`);
      }
      const take = Math.min(count - filled, this.#chunk.length - this.#offset);
      out.set(this.#chunk.subarray(this.#offset, this.#offset + take), filled);
      filled += take;
      this.#advance(take);
    }
    return out;
  }

  /** The next `count` bytes as views of the chunks they arrived in. */
  async *take(count: number, what: string): AsyncGenerator<Uint8Array> {
    let left = count;
    while (left > 0) {
      if (!(await this.#fill())) throw new TarError(`the archive is cut off in ${what}`);
      const take = Math.min(left, this.#chunk.length - this.#offset);
      const view = this.#chunk.subarray(this.#offset, this.#offset + take);
      this.#advance(take);
      left -= take;
      yield view;
    }
  }

  /** Stops reading: tells the source no more will be asked of it, so whatever feeds it (a decompressor, a stream) stops too. */
  async close(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    await this.source.return?.();
  }

  /** Reads to the end; true when every remaining byte is zero. */
  async restIsZeros(): Promise<boolean> {
    while (await this.#fill()) {
      const rest = this.#chunk.subarray(this.#offset);
      if (!rest.every((byte) => byte === 0)) return false;
      this.#advance(rest.length);
    }
    return true;
  }
}
