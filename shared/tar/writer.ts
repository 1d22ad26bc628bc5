/**
 * Writes an archive of regular files given as streams, for contexts packed
 * from uploaded files (the seed's multipart form). Each body is read only when
 * its turn comes; a body of another length than announced errors the archive.
 */
import { encodeHeader, END_OF_ARCHIVE, padding } from "./header";

export interface FileEntry {
  name: string;
  size: number;
  /** Octal file mode, e.g. 0o644. */
  mode: number;
  body: () => ReadableStream<Uint8Array>;
}

export async function* packFiles(entries: readonly FileEntry[], mtimeSeconds: number): AsyncGenerator<Uint8Array> {
  for (const entry of entries) {
    yield encodeHeader({ name: entry.name, type: "file", mode: entry.mode, size: entry.size, mtime: mtimeSeconds });
    let written = 0;
    const reader = entry.body().getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        written += value.byteLength;
        if (written > entry.size) break;
        yield value;
      }
    } finally {
      reader.releaseLock();
    }
    if (written !== entry.size) throw new Error(`${entry.name}: expected ${entry.size} bytes, read ${written}`);
    if (padding(entry.size) > 0) yield new Uint8Array(padding(entry.size));
  }
  yield END_OF_ARCHIVE;
}
