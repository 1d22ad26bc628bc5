/**
 * One 512-byte tar header block, read strictly and written canonically.
 *
 * Reading accepts the two formats tools write today, POSIX ustar (which PAX
 * extends) and GNU, and refuses what readers disagree on: a bad checksum, a
 * number that is not plain octal or base-256, a name that is not UTF-8, the
 * old V7 and star layouts. Writing produces one form only, ustar with PAX
 * records when a value does not fit, which Go's archive/tar (Docker), GNU tar
 * and tar-stream all read the same way.
 */

export const BLOCK = 512;
/** Two zero blocks end an archive. */
export const END_OF_ARCHIVE = new Uint8Array(2 * BLOCK);

/** A problem with the archive's structure; the message says which entry and why. */
export class TarError extends Error {}

/** A header as it stands in its block, before PAX or GNU long-name records are applied. */
export interface HeaderBlock {
  /** The name field (with the ustar prefix field before it, for ustar). */
  name: string;
  mode: number;
  size: number;
  mtime: number;
  /** The type flag byte as a character: "0", "5", "x", "L", "\0", … */
  typeflag: string;
  linkname: string;
  format: "ustar" | "gnu";
}

const USTAR_MAGIC = "ustar\0";
const GNU_MAGIC = "ustar ";
const GNU_VERSION = " \0";
/** star's trailer at the end of a ustar block: its prefix field is shorter, which Go honours and others do not. */
const STAR_TRAILER = "tar\0";
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const ascii = new TextDecoder("latin1");
const encoder = new TextEncoder();

export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

export function isZeroBlock(block: Uint8Array): boolean {
  return block.every((byte) => byte === 0);
}

/** A NUL-terminated UTF-8 string field; a name that is not UTF-8 is refused, as two different byte names could decode alike. */
export function decodeText(bytes: Uint8Array, what: string): string {
  const end = bytes.indexOf(0);
  try {
    return utf8.decode(end === -1 ? bytes : bytes.subarray(0, end));
  } catch {
    throw new TarError(`${what} is not valid UTF-8`);
  }
}

/**
 * A numeric field: octal digits, optionally padded with spaces or NULs on either side (as Go reads them), or
 * GNU's base-256 (high bit set) for values octal cannot hold. Anything else is refused rather than half-read.
 */
function decodeNumber(field: Uint8Array, what: string): number {
  if (field[0] === 0x80) {
    let value = 0;
    for (const byte of field.subarray(1)) value = value * 256 + byte;
    if (!Number.isSafeInteger(value)) throw new TarError(`${what} is too large`);
    return value;
  }
  // Base-256 with value bits in its first byte: 0x40 is the sign; otherwise the number passes 2^56 at least.
  if ((field[0]! & 0x80) !== 0) throw new TarError(`${what} is ${(field[0]! & 0x40) !== 0 ? "a negative base-256 number" : "too large"}`);
  const text = ascii.decode(field).replace(/^[ \0]+|[ \0]+$/g, "");
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarError(`${what} is not an octal number (${JSON.stringify(text)})`);
  return parseInt(text, 8);
}

function checksumOf(block: Uint8Array): { unsigned: number; signed: number } {
  let unsigned = 0;
  let signed = 0;
  for (let index = 0; index < BLOCK; index++) {
    // The checksum field itself counts as eight spaces.
    const byte = index >= 148 && index < 156 ? 0x20 : block[index]!;
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return { unsigned, signed };
}

/** Reads one non-zero header block; throws TarError when it is not a ustar or GNU header. */
export function decodeHeader(block: Uint8Array): HeaderBlock {
  const stored = decodeNumber(block.subarray(148, 156), "the header checksum");
  const { unsigned, signed } = checksumOf(block);
  // Go accepts either sum, as some old tools summed signed bytes.
  if (stored !== unsigned && stored !== signed) {
    throw new TarError("a header's checksum does not match: this is not a tar archive, or it is corrupt (a gzip file needs its gzip magic bytes intact)");
  }
  const magic = ascii.decode(block.subarray(257, 263));
  const version = ascii.decode(block.subarray(263, 265));
  let format: HeaderBlock["format"];
  if (magic === USTAR_MAGIC) {
    if (ascii.decode(block.subarray(508, 512)) === STAR_TRAILER) throw new TarError("star-format archives are not supported; use ustar, PAX or GNU");
    format = "ustar";
  } else if (magic === GNU_MAGIC && version === GNU_VERSION) {
    format = "gnu";
  } else {
    throw new TarError("a header is neither ustar, PAX nor GNU format (old V7 archives are not supported)");
  }
  let name = decodeText(block.subarray(0, 100), "an entry name");
  if (format === "ustar") {
    const prefix = decodeText(block.subarray(345, 500), "an entry name prefix");
    if (prefix !== "") name = `${prefix}/${name}`;
  }
  return {
    name,
    mode: decodeNumber(block.subarray(100, 108), `the mode of ${JSON.stringify(name)}`),
    size: decodeNumber(block.subarray(124, 136), `the size of ${JSON.stringify(name)}`),
    mtime: decodeNumber(block.subarray(136, 148), `the modification time of ${JSON.stringify(name)}`),
    typeflag: String.fromCharCode(block[156]!),
    linkname: decodeText(block.subarray(157, 257), `the link target of ${JSON.stringify(name)}`),
    format,
  };
}

/** `key=value` records of a PAX extended header, read strictly: each record's length must be exact. */
export function decodePax(data: Uint8Array, what: string): Map<string, string> {
  const records = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    const lengthText = space === -1 ? "" : ascii.decode(data.subarray(at, space));
    const length = Number(lengthText);
    if (!/^[1-9][0-9]*$/.test(lengthText) || at + length > data.length || data[at + length - 1] !== 0x0a) {
      // Trailing NUL padding after the last record is what some writers leave; anything else is malformed.
      if (data.subarray(at).every((byte) => byte === 0)) break;
      throw new TarError(`${what} has a malformed record`);
    }
    const record = decodeText(data.subarray(space + 1, at + length - 1), `a record of ${what}`);
    const equals = record.indexOf("=");
    if (equals <= 0) throw new TarError(`${what} has a record without a key`);
    const key = record.slice(0, equals);
    if (records.has(key)) throw new TarError(`${what} sets ${key} twice`);
    records.set(key, record.slice(equals + 1));
    at += length;
  }
  return records;
}

// --- Writing ------------------------------------------------------------------

/** The types the writer produces; the flag each has in a header. */
export const TYPEFLAG = { file: "0", link: "1", symlink: "2", directory: "5" } as const;
export type WrittenType = keyof typeof TYPEFLAG;

export interface WrittenEntry {
  name: string;
  type: WrittenType;
  mode: number;
  size: number;
  mtime: number;
  linkname?: string;
}

const NAME_FIELD = 100;
const MAX_OCTAL_SIZE = 8 ** 11 - 1;
const MAX_OCTAL_TIME = 8 ** 11 - 1;

function writeText(block: Uint8Array, offset: number, length: number, text: string): void {
  const bytes = encoder.encode(text);
  if (bytes.length > length) throw new RangeError(`tar header field too long: ${text}`);
  block.set(bytes, offset);
}

function octal(value: number, digits: number): string {
  return `${value.toString(8).padStart(digits, "0")}\0`;
}

function fitsField(text: string): boolean {
  // Plain ASCII only: some readers take the field as Latin-1.
  return /^[\x20-\x7e]*$/.test(text) && text.length <= NAME_FIELD;
}

function headerBlock(name: string, typeflag: string, mode: number, size: number, mtime: number, linkname: string): Uint8Array {
  const block = new Uint8Array(BLOCK);
  writeText(block, 0, NAME_FIELD, name);
  writeText(block, 100, 8, octal(mode, 7));
  writeText(block, 108, 8, octal(0, 7));
  writeText(block, 116, 8, octal(0, 7));
  writeText(block, 124, 12, octal(size, 11));
  writeText(block, 136, 12, octal(mtime, 11));
  writeText(block, 148, 8, "        ");
  writeText(block, 156, 1, typeflag);
  writeText(block, 157, NAME_FIELD, linkname);
  writeText(block, 257, 6, USTAR_MAGIC);
  writeText(block, 263, 2, "00");
  writeText(block, 148, 8, `${checksumOf(block).unsigned.toString(8).padStart(6, "0")}\0 `);
  return block;
}

/** One PAX record, `<length> <key>=<value>\n`, whose length counts its own digits. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bytes = encoder.encode(body).length;
  let length = bytes + String(bytes).length;
  if (String(length).length !== String(bytes).length) length += 1;
  return `${length}${body}`;
}

/** A stand-in for the name field when the real name travels in a PAX record: printable ASCII, at most 100 bytes. */
function placeholder(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, "_").slice(-NAME_FIELD);
}

/**
 * The header of one entry: a ustar block, preceded by a PAX header when the name or link target is not short
 * printable ASCII or the size needs more than octal holds. Directory names end in "/", as Go and GNU tar write them.
 */
export function encodeHeader(entry: WrittenEntry): Uint8Array {
  const name = entry.type === "directory" ? `${entry.name}/` : entry.name;
  const linkname = entry.linkname ?? "";
  const records: string[] = [];
  if (!fitsField(name)) records.push(paxRecord("path", name));
  if (!fitsField(linkname)) records.push(paxRecord("linkpath", linkname));
  if (entry.size > MAX_OCTAL_SIZE) records.push(paxRecord("size", String(entry.size)));
  const mtime = Math.min(Math.max(0, Math.floor(entry.mtime)), MAX_OCTAL_TIME);
  const main = headerBlock(
    fitsField(name) ? name : placeholder(name),
    TYPEFLAG[entry.type],
    entry.mode & 0o7777,
    entry.size > MAX_OCTAL_SIZE ? 0 : entry.size,
    mtime,
    fitsField(linkname) ? linkname : placeholder(linkname),
  );
  if (records.length === 0) return main;
  const pax = encoder.encode(records.join(""));
  const paxHeader = headerBlock(placeholder(`PaxHeaders/${name}`), "x", 0o644, pax.length, mtime, "");
  const out = new Uint8Array(2 * BLOCK + pax.length + padding(pax.length));
  out.set(paxHeader, 0);
  out.set(pax, BLOCK);
  out.set(main, out.length - BLOCK);
  return out;
}
