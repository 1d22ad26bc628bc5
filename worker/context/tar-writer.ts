/**
 * A minimal ustar writer on Web streams. The Worker packs uploaded files into
 * one tar on the way to R2, and `R2.put` needs the exact length up front
 * (FixedLengthStream), which this writer can state before writing a byte.
 * Names are limited to the 100-byte ustar name field, so no pax headers.
 */
import { MAX_PATH_BYTES } from "../../shared/context-path";

const BLOCK = 512;
const END_OF_ARCHIVE = 2 * BLOCK;
/** The ustar name field; context paths are limited to it (shared/context-path.ts). */
const NAME_FIELD_BYTES = MAX_PATH_BYTES;

export interface TarEntry {
  name: string;
  size: number;
  /** Octal file mode, e.g. 0o644. */
  mode: number;
  body: () => ReadableStream<Uint8Array>;
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

export function tarLength(entries: readonly Pick<TarEntry, "size">[]): number {
  return entries.reduce((total, { size }) => total + BLOCK + size + padding(size), END_OF_ARCHIVE);
}

function writeField(header: Uint8Array, offset: number, length: number, text: string): void {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length > length) throw new RangeError(`tar header field too long: ${text}`);
  header.set(bytes, offset);
}

function octal(value: number, length: number): string {
  return value.toString(8).padStart(length - 1, "0");
}

export function tarHeader(entry: Pick<TarEntry, "name" | "size" | "mode">, mtimeSeconds: number): Uint8Array {
  const header = new Uint8Array(BLOCK);
  writeField(header, 0, NAME_FIELD_BYTES, entry.name);
  writeField(header, 100, 8, octal(entry.mode, 8));
  writeField(header, 108, 8, octal(0, 8));
  writeField(header, 116, 8, octal(0, 8));
  writeField(header, 124, 12, octal(entry.size, 12));
  writeField(header, 136, 12, octal(mtimeSeconds, 12));
  writeField(header, 148, 8, "        "); // checksum is computed with its own field as spaces
  writeField(header, 156, 1, "0");
  writeField(header, 257, 6, "ustar\0");
  writeField(header, 263, 2, "00");
  const checksum = header.reduce((sum, byte) => sum + byte, 0);
  writeField(header, 148, 8, `${octal(checksum, 7)}\0`);
  return header;
}

/** Streams the archive; each body is read only when its turn comes. */
export function tarStream(entries: readonly TarEntry[], mtimeSeconds: number): ReadableStream<Uint8Array> {
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const write = async () => {
    const writer = writable.getWriter();
    try {
      for (const entry of entries) {
        await writer.write(tarHeader(entry, mtimeSeconds));
        let written = 0;
        for await (const chunk of entry.body()) {
          written += chunk.byteLength;
          await writer.write(chunk);
        }
        if (written !== entry.size) throw new Error(`${entry.name}: expected ${entry.size} bytes, read ${written}`);
        if (padding(entry.size) > 0) await writer.write(new Uint8Array(padding(entry.size)));
      }
      await writer.write(new Uint8Array(END_OF_ARCHIVE));
      await writer.close();
    } catch (error) {
      await writer.abort(error);
    }
  };
  void write();
  return readable;
}
