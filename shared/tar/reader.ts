/**
 * A strict streaming tar reader: one entry at a time, with its data passed on
 * as it arrives, never the whole archive in memory.
 *
 * Readers disagree on archives that are ambiguous, and Docker reads with Go's
 * archive/tar while a check written in TypeScript reads with something else:
 * that gap let a checked archive build into something unchecked (#13). So
 * whatever two readers could take differently is refused here, not guessed:
 * a link, symlink or folder entry that carries data (Go skips none of it and
 * reads it as more headers), a GNU long name that disagrees with a PAX path
 * (Go takes the first, tar-stream the second), two extended headers for one
 * entry, global PAX headers that set anything but a comment, sparse files,
 * vendor entry types, data after the end-of-archive marker, and an archive
 * without that marker (cut off).
 */
import { ByteReader } from "./byte-reader";
import { BLOCK, decodeHeader, decodePax, decodeText, isZeroBlock, padding, TarError, type HeaderBlock } from "./header";

/** An entry's kind, as its type flag says. */
export type EntryType = "file" | "directory" | "symlink" | "link" | "character-device" | "block-device" | "fifo";

export interface TarEntry {
  /** The full name, after PAX and GNU long-name records. */
  name: string;
  type: EntryType;
  mode: number;
  /** Bytes of data that follow; 0 for everything but files. */
  size: number;
  mtime: number;
  /** The target of a link or symlink, "" otherwise. */
  linkname: string;
}

export interface ReadEntry {
  entry: TarEntry;
  /** The entry's data; the reader skips whatever the consumer leaves unread. */
  data: AsyncIterable<Uint8Array>;
}

/** Extended headers are small (a long name, a few attributes); a larger one is refused, not buffered. */
export const MAX_META_BYTES = 64 * 1024;

const TYPES: Record<string, EntryType> = {
  "0": "file",
  // Contiguous files are regular files to every reader that knows them.
  "7": "file",
  "1": "link",
  "2": "symlink",
  "3": "character-device",
  "4": "block-device",
  "5": "directory",
  "6": "fifo",
};
/** What a git archive puts in its global header; anything else would apply to later entries in some readers and not in others. */
const GLOBAL_KEYS = new Set(["comment"]);

/** Extended records collected for the next entry. */
interface Pending {
  pax?: Map<string, string>;
  longName?: string;
  longLink?: string;
}

/** A name as messages show it: quoted and escaped, so a crafted name cannot fake the rest of the message. */
export function quoted(text: string): string {
  return JSON.stringify(text);
}

async function readMeta(bytes: ByteReader, header: HeaderBlock, what: string): Promise<Uint8Array> {
  if (header.size > MAX_META_BYTES) throw new TarError(`${what} is ${header.size} bytes, more than the ${MAX_META_BYTES} allowed`);
  const data = header.size === 0 ? new Uint8Array(0) : await bytes.readExact(header.size, what);
  if (data === null) throw new TarError(`the archive is cut off in ${what}`);
  if (padding(header.size) > 0 && (await bytes.readExact(padding(header.size), what)) === null) {
    throw new TarError(`the archive is cut off in ${what}`);
  }
  return data;
}

/** The value both records agree on; refused when they disagree. */
function agreed(gnu: string | undefined, pax: string | undefined, what: string): string | undefined {
  if (gnu !== undefined && pax !== undefined && gnu !== pax) {
    throw new TarError(`the GNU long ${what} ${quoted(gnu)} and the PAX ${what} ${quoted(pax)} disagree: readers would take different ones`);
  }
  return gnu ?? pax;
}

function entryOf(header: HeaderBlock, pending: Pending): TarEntry {
  const { pax } = pending;
  for (const key of pax?.keys() ?? []) {
    if (key.startsWith("GNU.sparse.")) throw new TarError(`sparse files are not supported (entry ${quoted(header.name)})`);
  }
  // An empty GNU long name or link target is no name at all: Go (Docker's reader) then keeps the header's own.
  const name = agreed(pending.longName || undefined, pax?.get("path"), "name") ?? header.name;
  const linkname = agreed(pending.longLink || undefined, pax?.get("linkpath"), "link target") ?? header.linkname;
  let size = header.size;
  const paxSize = pax?.get("size");
  if (paxSize !== undefined) {
    if (!/^[0-9]+$/.test(paxSize) || !Number.isSafeInteger(Number(paxSize))) throw new TarError(`the PAX size of ${quoted(name)} is not a number`);
    size = Number(paxSize);
  }
  let type = TYPES[header.typeflag];
  // An old-style regular file ("\0") named with a trailing slash is a folder to Go and GNU tar alike.
  if (header.typeflag === "\0") type = name.endsWith("/") ? "directory" : "file";
  if (type === undefined) {
    const flag = header.typeflag.charCodeAt(0) < 0x20 ? `\\x${header.typeflag.charCodeAt(0).toString(16)}` : header.typeflag;
    throw new TarError(`entry ${quoted(name)} has the type '${flag}', which is not a file, folder, link or device`);
  }
  if (type === "file" && name.endsWith("/")) throw new TarError(`the file entry ${quoted(name)} has a folder's name (a trailing '/')`);
  if (type !== "file" && size !== 0) {
    // Go reads no data after such an entry: its "data" would be taken as more headers.
    throw new TarError(`the ${type} entry ${quoted(name)} carries ${size} bytes of data, which readers disagree on`);
  }
  return { name, type, mode: header.mode, size, mtime: header.mtime, linkname: type === "symlink" || type === "link" ? linkname : "" };
}

/**
 * The archive's entries in order. Each entry's data must be read (or is skipped) before the next entry comes;
 * throws TarError (or TooLargeError past `maxBytes`) at the first problem.
 */
export async function* readTar(source: AsyncIterable<Uint8Array>, maxBytes?: number): AsyncGenerator<ReadEntry> {
  const bytes = new ByteReader(source[Symbol.asyncIterator](), maxBytes);
  try {
    yield* entries(bytes);
  } finally {
    // Done, refused or abandoned: the source is told, so nothing upstream is left running.
    await bytes.close();
  }
}

async function* entries(bytes: ByteReader): AsyncGenerator<ReadEntry> {
  let pending: Pending = {};
  for (;;) {
    const block = await bytes.readExact(BLOCK, "a header");
    if (block === null) throw new TarError("the archive ends without its end-of-archive marker: it was cut off");
    if (isZeroBlock(block)) {
      if (pending.pax || pending.longName !== undefined || pending.longLink !== undefined) {
        throw new TarError("the archive ends right after an extended header, with no entry for it");
      }
      const second = await bytes.readExact(BLOCK, "the end-of-archive marker");
      if (second === null || !isZeroBlock(second)) throw new TarError("an empty block in the middle of the archive: readers would stop there or go on");
      if (!(await bytes.restIsZeros())) throw new TarError("there is data after the end-of-archive marker");
      return;
    }
    const header = decodeHeader(block);
    switch (header.typeflag) {
      case "x": {
        if (pending.pax) throw new TarError(`two PAX headers for one entry (before ${quoted(header.name)})`);
        pending.pax = decodePax(await readMeta(bytes, header, "a PAX header"), "a PAX header");
        continue;
      }
      case "g": {
        const records = decodePax(await readMeta(bytes, header, "a global PAX header"), "a global PAX header");
        const key = [...records.keys()].find((candidate) => !GLOBAL_KEYS.has(candidate));
        if (key !== undefined) throw new TarError(`a global PAX header sets ${key}, which readers apply differently`);
        continue;
      }
      case "L": {
        if (pending.longName !== undefined) throw new TarError("two GNU long names for one entry");
        pending.longName = decodeText(await readMeta(bytes, header, "a GNU long name"), "a GNU long name");
        continue;
      }
      case "K": {
        if (pending.longLink !== undefined) throw new TarError("two GNU long link targets for one entry");
        pending.longLink = decodeText(await readMeta(bytes, header, "a GNU long link target"), "a GNU long link target");
        continue;
      }
    }
    const entry = entryOf(header, pending);
    pending = {};
    const what = `the data of ${quoted(entry.name)}`;
    let left = entry.size;
    const data = {
      async *[Symbol.asyncIterator]() {
        for await (const chunk of bytes.take(left, what)) {
          left -= chunk.length;
          yield chunk;
        }
      },
    };
    yield { entry, data };
    // Whatever the consumer left unread is skipped, so the next header is read where it starts.
    for await (const chunk of bytes.take(left, what)) left -= chunk.length;
    if (padding(entry.size) > 0 && (await bytes.readExact(padding(entry.size), what)) === null) {
      throw new TarError(`the archive is cut off in ${what}`);
    }
  }
}
