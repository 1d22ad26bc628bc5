/**
 * Replaces every occurrence of each secret with `***` before text leaves our
 * hands: the secret as it is, and the forms a build's output or an error
 * commonly shows it in: URL encoding (percent-escapes in either case, `+` for
 * a space), JSON string escaping, and base64 (standard and URL-safe) at each
 * of the three alignments it can have inside a longer base64 text.
 *
 * What it cannot catch, README says too: other encodings (hex, gzip, double
 * encodings, base64 wrapped over lines as `base64` does past 76 characters),
 * a secret split across log lines or transformed by the build (`rev`,
 * `cut`), and encoded forms of secrets shorter than MIN_ENCODED_SECRET_CHARS,
 * whose encodings are too short to tell from ordinary text.
 */
import { LiteralCover } from "./literal-cover";

export const REDACTED = "***";

/** Encoded forms are looked for only for secrets at least this long: shorter ones would match ordinary text. */
export const MIN_ENCODED_SECRET_CHARS = 6;

const BASE64_URL_SAFE: Record<string, string> = { "+": "-", "/": "_" };

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/=+$/, "");
}

/**
 * The base64 characters that depend on the secret's bytes alone when it sits
 * `offset` (0, 1 or 2) bytes into a group of three: the characters that mix in
 * bytes before or after it differ with the text around it, so they are left out.
 */
function base64Fragments(secret: string): string[] {
  const bytes = new TextEncoder().encode(secret);
  return [0, 1, 2].map((offset) => {
    const padded = new Uint8Array(offset + bytes.length);
    padded.set(bytes, offset);
    const encoded = base64(padded);
    return encoded.slice(Math.ceil((offset * 8) / 6), Math.floor((padded.length * 8) / 6));
  });
}

/** `encodeURIComponent` and form encoding, each also with lower-case percent-escapes. */
function urlForms(secret: string): string[] {
  const component = encodeURIComponent(secret);
  const form = new URLSearchParams({ s: secret }).toString().slice(2);
  return [component, form].flatMap((encoded) => [encoded, encoded.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase())]);
}

/** The secret inside a JSON string: as JSON.stringify writes it, and as other encoders do: `/` as `\\/`, non-ASCII as `\\u`. */
function jsonForms(secret: string): string[] {
  const plain = JSON.stringify(secret).slice(1, -1);
  const asciiOnly = plain.replace(/[\u007f-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return [plain, asciiOnly].flatMap((form) => [form, form.replaceAll("/", "\\/")]);
}

/** Every form of the secret to look for, longest first so a longer form is not broken up by a shorter one inside it. */
export function secretForms(secret: string): string[] {
  if (secret.length < MIN_ENCODED_SECRET_CHARS) return [secret];
  const base64Forms = base64Fragments(secret).flatMap((fragment) => [fragment, fragment.replace(/[+/]/g, (char) => BASE64_URL_SAFE[char]!)]);
  const forms = new Set([secret, ...urlForms(secret), ...jsonForms(secret), ...base64Forms]);
  return [...forms].filter((form) => form.length > 0).sort((a, b) => b.length - a.length);
}

/**
 * At most this many lines of MIN_ENCODED_SECRET_CHARS or more in all of a build's secrets: each is looked for in
 * several encodings in every log line, so the work of redacting is bounded by this, not by how a secret is laid out
 * (64 KiB of six-character lines would be over nine thousand). A PEM key has a few dozen.
 */
export const MAX_SECRET_LINES = 256;

/** The lines of a secret of several lines that are looked for alone: those of at least MIN_ENCODED_SECRET_CHARS. */
export function secretLines(secret: string): string[] {
  if (!/[\r\n]/.test(secret)) return [];
  return secret.split(/\r?\n|\r/).map((line) => line.trim()).filter((line) => line.length >= MIN_ENCODED_SECRET_CHARS);
}

/**
 * What to look for of one secret: the secret, and, for one of several lines (a PEM key, a file), each of its lines
 * of at least MIN_ENCODED_SECRET_CHARS too, since a build's output is read line by line and a log line never holds
 * more than one of them. Shorter lines (`-----`, an empty one) are too common to tell from ordinary text.
 */
function secretParts(secret: string): string[] {
  return [secret, ...secretLines(secret)];
}

/**
 * A function that redacts these secrets (undefined and empty ones are skipped). The forms are worked out once and
 * looked for together in one pass over the text (literal-cover.ts); where found forms overlap or touch, the whole
 * run becomes one REDACTED.
 */
export function redactor(secrets: readonly (string | undefined)[]): (text: string) => string {
  const parts = secrets.filter((secret): secret is string => Boolean(secret)).flatMap(secretParts);
  const cover = new LiteralCover([...new Set(parts.flatMap(secretForms))]);
  return (text) => cover.replace(text, REDACTED);
}

export function redact(text: string, secrets: readonly (string | undefined)[]): string {
  return redactor(secrets)(text);
}
