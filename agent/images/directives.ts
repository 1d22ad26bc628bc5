/**
 * The parser directives at the top of a Dockerfile (`# syntax=…`,
 * `# escape=…`), read the way BuildKit reads them. Two readers matter, and
 * they differ (moby/buildkit, frontend/dockerfile):
 *
 * - Which frontend runs the build is decided first, by `DetectSyntax`. In
 *   BuildKit v0.8 (Engine 20.10) it reads lines from the very first one,
 *   untrimmed, no byte-order mark removed, each matching
 *   `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` (Go's `\s`: ASCII space,
 *   tab, CR, LF, FF), ANY key, and stops at the first line that does not
 *   match; a key given twice keeps its LAST value. From v0.11 on (Engines
 *   23+) it drops a byte-order mark and a first `#!` line, allows any Unicode
 *   space after the `#`, takes only known keys and stops at a duplicate
 *   (keeping the FIRST), then tries the same with `//` for `#`, then the
 *   whole file as JSON (`{"syntax": "…"}`; v0.11 matches the key without
 *   regard to case). The frontend is the value up to its first space.
 * - The built-in Dockerfile frontend's own parser reads `escape` (and
 *   refuses a repeated directive): leading whitespace trimmed, only known
 *   keys, stopping at the first line that is not one.
 *
 * A frontend is arbitrary code that writes the build itself, so the agent must
 * see every frontend any of these readings could pick: `syntaxDirectives`
 * reads one superset of them all (either comment prefix on each line, any key,
 * Unicode spaces anywhere, duplicates kept, a mark and a `#!` line skipped,
 * and the JSON form), and reports every value it meets.
 */

/** A Dockerfile whose images or directives cannot be told; its message names the line. */
export class DockerfileError extends Error {}

/** A frontend a `# syntax=` directive names, as BuildKit would take it: the value up to its first space. */
export interface SyntaxDirective {
  reference: string;
  /** Where it is, for messages: `# syntax (line 1)`. */
  where: string;
}

/** BuildKit's default escape character. */
export const DEFAULT_ESCAPE = "\\";
const ESCAPES: ReadonlySet<string> = new Set(["\\", "`"]);
const SYNTAX = "syntax";
const ESCAPE = "escape";
const BYTE_ORDER_MARK = "\uFEFF";
const SHEBANG = "#!";

/** One character of Go's `unicode.IsSpace`, which the newer parsers trim with. */
const UNICODE_SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;
/** One character of Go's regexp `\s`, which every BuildKit's directive pattern uses. */
const GO_SPACE = /[\t\n\f\r ]/;
const KEY = /^[a-zA-Z][a-zA-Z0-9]*/;

function trimStart(text: string, space: RegExp): string {
  let start = 0;
  while (start < text.length && space.test(text[start]!)) start++;
  return text.slice(start);
}

/** By hand: a regexp such as `\s+$` takes quadratic time in JavaScript on a line of many spaces. */
function trimEnd(text: string, space: RegExp): string {
  let end = text.length;
  while (end > 0 && space.test(text[end - 1]!)) end--;
  return text.slice(0, end);
}

/**
 * `key = value` after the comment prefix, as Go's `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` matches it with `space`
 * for `\s` (and `.` matching a CR: Go's `.` takes every character of a line). Read by hand, not with that pattern,
 * whose lazy `(.+?)\s*$` takes quadratic time in a JavaScript regexp on a long run of spaces. A value of nothing but
 * spaces still makes the line a directive, as in Go, with an empty value here (Go's is one space, naming nothing).
 */
function keyValue(text: string, space: RegExp): { key: string; value: string } | undefined {
  const key = KEY.exec(text)?.[0];
  if (!key) return undefined;
  const afterKey = trimStart(text.slice(key.length), space);
  if (!afterKey.startsWith("=") || afterKey.length === 1) return undefined;
  return { key: key.toLowerCase(), value: trimEnd(trimStart(afterKey.slice(1), space), space) };
}

/** Lines as Go's bufio.Scanner gives them: split at LF, one CR before it dropped. */
function scannerLines(text: string): string[] {
  return text.split("\n").map((line) => (line.endsWith("\r") ? line.slice(0, -1) : line));
}

/** The frontend a directive's value names. */
function frontendOf(value: string): string {
  return value.split(" ", 1)[0]!;
}

/**
 * Every frontend any BuildKit could run `dockerfile` with, from its directives. Empty: the Engine's built-in
 * Dockerfile frontend builds it.
 */
export function syntaxDirectives(dockerfile: string): SyntaxDirective[] {
  const found: SyntaxDirective[] = [];
  const body = dockerfile.startsWith(BYTE_ORDER_MARK) ? dockerfile.slice(1) : dockerfile;
  const lines = scannerLines(body);
  const afterShebang = lines[0]?.startsWith(SHEBANG) ? 1 : 0;
  for (let index = afterShebang; index < lines.length; index++) {
    const line = trimStart(lines[index]!, UNICODE_SPACE);
    const prefix = line.startsWith("//") ? 2 : line.startsWith("#") ? 1 : 0;
    const directive = prefix ? keyValue(trimStart(line.slice(prefix), UNICODE_SPACE), UNICODE_SPACE) : undefined;
    if (!directive) break;
    // An empty frontend is no image to run: BuildKit fails such a build itself.
    if (directive.key === SYNTAX && directive.value) found.push({ reference: frontendOf(directive.value), where: `# syntax (line ${index + 1})` });
  }
  const withoutShebang = afterShebang ? lines.slice(1).join("\n") : body;
  for (const text of new Set([body, withoutShebang])) {
    for (const value of jsonSyntax(text)) found.push({ reference: frontendOf(value), where: '{"syntax": …} (the Dockerfile read as JSON)' });
  }
  return found;
}

/** The `syntax` values of a Dockerfile that is a JSON object; Go's decoder matches `ſyntax` too, hence both case tests. */
function jsonSyntax(text: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [];
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return [];
  return Object.entries(parsed).flatMap(([key, value]) =>
    (key.toLowerCase() === SYNTAX || key.toUpperCase() === SYNTAX.toUpperCase()) && typeof value === "string" ? [value] : [],
  );
}

interface ParserReading {
  /** The spaces that may follow the `#`. */
  afterHash: RegExp;
  known: ReadonlySet<string>;
}

/** BuildKit v0.8's parser (Engine 20.10): `^#\s*key\s*=\s*value\s*$` on the line, left-trimmed. */
const V08_PARSER: ParserReading = { afterHash: GO_SPACE, known: new Set([SYNTAX, ESCAPE]) };
/** BuildKit v0.11 and later: the `#` cut off, then Unicode spaces trimmed; `check` is a known key too. */
const CURRENT_PARSER: ParserReading = { afterHash: UNICODE_SPACE, known: new Set([SYNTAX, ESCAPE, "check"]) };

/** The escape character one parser takes from the top of the file; throws where that parser refuses the file. */
function parserEscape(lines: readonly string[], reading: ParserReading): string {
  const seen = new Set<string>();
  let escape = DEFAULT_ESCAPE;
  for (const [index, raw] of lines.entries()) {
    const line = trimStart(raw, UNICODE_SPACE);
    const directive = line.startsWith("#") ? keyValue(trimStart(line.slice(1), reading.afterHash), GO_SPACE) : undefined;
    if (!directive || !reading.known.has(directive.key)) break;
    const { key, value } = directive;
    if (seen.has(key)) throw new DockerfileError(`line ${index + 1}: only one ${key} parser directive can be used`);
    seen.add(key);
    if (key !== ESCAPE) continue;
    if (!ESCAPES.has(value)) throw new DockerfileError(`line ${index + 1}: the escape directive must be \\ or \`, not ${value || "empty"}`);
    escape = value;
  }
  return escape;
}

/**
 * The escape character the Engine's Dockerfile parser reads `lines` with (a byte-order mark already removed). Throws
 * a DockerfileError where it refuses them, and where BuildKit versions would read them with different characters,
 * since the lines the agent reads for images would then not be the lines the build runs.
 */
export function escapeDirective(lines: readonly string[]): string {
  const escape = parserEscape(lines, V08_PARSER);
  let current: string;
  try {
    current = parserEscape(lines, CURRENT_PARSER);
  } catch {
    // That parser fails the build itself.
    return escape;
  }
  if (current !== escape) {
    throw new DockerfileError(`the parser directives at the top read as escape ${escape} on some Engines and ${current} on others: write # escape=<character> as the first line`);
  }
  return escape;
}
