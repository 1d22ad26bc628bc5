import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LiteralCover, TILE_CHARS } from "./literal-cover";

/** What the cover must equal for literals it matches exactly: every occurrence of each, runs merged, each run replaced once. */
function naive(text: string, literals: readonly string[]): string {
  const covered = new Array<boolean>(text.length).fill(false);
  for (const literal of literals) {
    if (!literal) continue;
    for (let at = text.indexOf(literal); at !== -1; at = text.indexOf(literal, at + 1)) covered.fill(true, at, at + literal.length);
  }
  let result = "";
  for (let i = 0; i < text.length; i++) {
    if (!covered[i]) result += text[i];
    else if (i === 0 || !covered[i - 1]) result += "#";
  }
  return result;
}

// A small alphabet, so literals overlap, repeat and share prefixes and suffixes (the failure links' cases).
const small = fc.string({ unit: fc.constantFrom("a", "b", "c", "é", "\u0301", "😀"), maxLength: 12 });

describe("LiteralCover", () => {
  it("covers every occurrence of short literals, overlapping ones merged into one run (property)", () => {
    fc.assert(
      fc.property(fc.array(small.filter((s) => s.length < TILE_CHARS), { maxLength: 8 }), fc.string({ unit: fc.constantFrom("a", "b", "c", "é", "\u0301", "😀", " "), maxLength: 60 }), (literals, text) => {
        expect(new LiteralCover(literals).replace(text, "#")).toBe(naive(text, literals));
      }),
      { numRuns: 500 },
    );
  });

  it("covers a long literal wherever it occurs in full, at any offset, and leaves text without its tiles alone (property)", () => {
    fc.assert(
      fc.property(fc.string({ minLength: TILE_CHARS, maxLength: 100 }), fc.string({ maxLength: 30 }), fc.string({ maxLength: 30 }), (literal, before, after) => {
        const cover = new LiteralCover([literal]);
        const replaced = cover.replace(`${before}${literal}${after}`, "\u0000");
        expect(replaced).not.toContain(literal);
        expect(replaced).toContain("\u0000");
      }),
    );
    const cover = new LiteralCover(["0123456789abcdefXYZ"]);
    expect(cover.replace("<0123456789abcdefXYZ>", "#")).toBe("<#>");
    expect(cover.replace("0123456789abcdeX", "#")).toBe("0123456789abcdeX");
  });

  it("matches code units, not graphemes: a literal before a combining mark is still found", () => {
    expect(new LiteralCover(["secre"]).replace("a secre\u0301t", "#")).toBe("a #\u0301t");
  });
});
