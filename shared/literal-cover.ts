/**
 * Finds where any of many literal strings occur in a text, in one pass whatever their number, and with memory that
 * does not grow with their total length: what the redactor needs to look for a job's secrets (hundreds of lines,
 * each in several encodings, up to a megabyte of text in all) in every log batch a pool receives.
 *
 * A literal shorter than TILE_CHARS is found exactly by an Aho–Corasick automaton over UTF-16 code units (a
 * library's would do, but the well-used one on npm matches whole graphemes, so a secret ending before a combining
 * mark would be missed). A longer one is cut into tiles of TILE_CHARS (the last one flush with its end) and only the
 * tiles' hashes are kept: every window of the text is hashed as it rolls past, and a window equal to a tile is
 * covered. The literal itself shows up only where all its tiles do, so it is covered in full; a lone tile of it is
 * covered too, which for a secret is a part of it that must not show. A hash collision (two 32-bit hashes) covers a
 * window it need not, never the reverse.
 */

/** Long enough that a tile of a secret is not ordinary text; short literals below it are matched exactly. */
export const TILE_CHARS = 16;

// Two polynomial hashes modulo 2^32 (Math.imul, no division: a float modulo per character was most of the cost).
// Strings built to collide under such hashes exist (Thue–Morse), but a collision only covers more, so the worst a
// crafted log line can do is lose text of its own build's log.
const B1 = 0x01000193;
const B2 = 0x5bd1e995;

function power(base: number, exponent: number): number {
  let result = 1;
  for (let i = 0; i < exponent; i++) result = Math.imul(result, base);
  return result;
}
const TOP1 = power(B1, TILE_CHARS - 1);
const TOP2 = power(B2, TILE_CHARS - 1);

function addTile(table: TileTable, text: string, start: number): void {
  let h1 = 0;
  let h2 = 0;
  for (let i = start; i < start + TILE_CHARS; i++) {
    const code = text.charCodeAt(i);
    h1 = (Math.imul(h1, B1) + code) | 0;
    h2 = (Math.imul(h2, B2) + code) | 0;
  }
  table.add(h1, h2);
}

/** An Aho–Corasick automaton: goto edges keyed `state * 2^16 + code unit`, and the longest literal ending at each state. */
class ShortLiterals {
  private readonly edges = new Map<number, number>();
  /** The root's edges by code unit (0: none): most of a text's characters start nothing, and this says so at once. */
  private readonly fromRoot = new Int32Array(0x10000);
  private readonly fail: number[] = [0];
  private readonly longest: number[] = [0];

  constructor(literals: readonly string[]) {
    for (const literal of literals) {
      let state = 0;
      for (let i = 0; i < literal.length; i++) {
        const key = state * 0x10000 + literal.charCodeAt(i);
        let next = this.edges.get(key);
        if (next === undefined) {
          next = this.fail.length;
          this.fail.push(0);
          this.longest.push(0);
          this.edges.set(key, next);
        }
        state = next;
      }
      this.longest[state] = Math.max(this.longest[state]!, literal.length);
    }
    for (const [key, child] of this.edges) if (key < 0x10000) this.fromRoot[key] = child;
    // Failure links breadth first (a state's are set before its children's): the longest proper suffix that is a prefix.
    const children = new Map<number, [number, number][]>();
    for (const [key, child] of this.edges) {
      const parent = Math.floor(key / 0x10000);
      const list = children.get(parent) ?? [];
      list.push([key % 0x10000, child]);
      children.set(parent, list);
    }
    const queue = [0];
    for (let head = 0; head < queue.length; head++) {
      const parent = queue[head]!;
      for (const [code, child] of children.get(parent) ?? []) {
        if (parent !== 0) {
          let fallback = this.fail[parent]!;
          while (fallback !== 0 && !this.edges.has(fallback * 0x10000 + code)) fallback = this.fail[fallback]!;
          this.fail[child] = this.edges.get(fallback * 0x10000 + code) ?? 0;
        }
        this.longest[child] = Math.max(this.longest[child]!, this.longest[this.fail[child]!]!);
        queue.push(child);
      }
    }
  }

  get empty(): boolean {
    return this.fail.length === 1;
  }

  /** Calls cover(start, end) for the longest literal ending at each position (shorter ones there lie inside it). */
  find(text: string, cover: (start: number, end: number) => void): void {
    let state = 0;
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      let next = state === 0 ? undefined : this.edges.get(state * 0x10000 + code);
      while (next === undefined && state !== 0) {
        state = this.fail[state]!;
        if (state !== 0) next = this.edges.get(state * 0x10000 + code);
      }
      state = next ?? this.fromRoot[code]!;
      const length = this.longest[state]!;
      if (length > 0) cover(i + 1 - length, i + 1);
    }
  }
}

/** The tiles' hash pairs in an open-addressing table of typed arrays: no boxed numbers, no per-entry objects. */
class TileTable {
  private readonly first: Int32Array;
  private readonly second: Int32Array;
  private readonly used: Uint8Array;
  private readonly mask: number;
  size = 0;

  constructor(capacity: number) {
    let slots = 1024;
    while (slots < capacity * 2) slots *= 2;
    this.first = new Int32Array(slots);
    this.second = new Int32Array(slots);
    this.used = new Uint8Array(slots);
    this.mask = slots - 1;
  }

  add(h1: number, h2: number): void {
    let slot = (h1 ^ Math.imul(h2, 0x9e3779b1)) & this.mask;
    while (this.used[slot]) {
      if (this.first[slot] === h1 && this.second[slot] === h2) return;
      slot = (slot + 1) & this.mask;
    }
    this.used[slot] = 1;
    this.first[slot] = h1;
    this.second[slot] = h2;
    this.size += 1;
  }

  has(h1: number, h2: number): boolean {
    for (let slot = (h1 ^ Math.imul(h2, 0x9e3779b1)) & this.mask; this.used[slot]; slot = (slot + 1) & this.mask) {
      if (this.first[slot] === h1 && this.second[slot] === h2) return true;
    }
    return false;
  }
}

export class LiteralCover {
  private readonly short: ShortLiterals;
  private readonly tiles: TileTable;

  constructor(literals: readonly string[]) {
    const short = literals.filter((literal) => literal.length > 0 && literal.length < TILE_CHARS);
    const long = literals.filter((literal) => literal.length >= TILE_CHARS);
    this.tiles = new TileTable(long.reduce((sum, literal) => sum + Math.ceil(literal.length / TILE_CHARS), 0));
    for (const literal of long) {
      for (let start = 0; start + TILE_CHARS < literal.length; start += TILE_CHARS) addTile(this.tiles, literal, start);
      addTile(this.tiles, literal, literal.length - TILE_CHARS);
    }
    this.short = new ShortLiterals(short);
  }

  /** The text with every covered run replaced by `replacement`; the text itself when nothing is covered. */
  replace(text: string, replacement: string): string {
    let depth: Int32Array | undefined;
    const cover = (start: number, end: number) => {
      depth ??= new Int32Array(text.length + 1);
      depth[start]! += 1;
      depth[end]! -= 1;
    };
    if (!this.short.empty) this.short.find(text, cover);
    if (this.tiles.size > 0 && text.length >= TILE_CHARS) this.findTiles(text, cover);
    if (!depth) return text;
    let result = "";
    let covered = 0;
    let runStart = 0;
    for (let i = 0; i <= text.length; i++) {
      const was = covered;
      covered += depth[i]!;
      if (was === 0 && covered > 0) {
        result += text.slice(runStart, i);
      } else if (was > 0 && covered === 0) {
        result += replacement;
        runStart = i;
      }
    }
    return result + text.slice(runStart);
  }

  private findTiles(text: string, cover: (start: number, end: number) => void): void {
    let h1 = 0;
    let h2 = 0;
    for (let i = 0; i < text.length; i++) {
      if (i >= TILE_CHARS) {
        const leaving = text.charCodeAt(i - TILE_CHARS);
        h1 = (h1 - Math.imul(leaving, TOP1)) | 0;
        h2 = (h2 - Math.imul(leaving, TOP2)) | 0;
      }
      const code = text.charCodeAt(i);
      h1 = (Math.imul(h1, B1) + code) | 0;
      h2 = (Math.imul(h2, B2) + code) | 0;
      if (i >= TILE_CHARS - 1 && this.tiles.has(h1, h2)) cover(i + 1 - TILE_CHARS, i + 1);
    }
  }
}
