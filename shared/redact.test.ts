import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MIN_ENCODED_SECRET_CHARS, REDACTED, redact, redactor } from "./redact";

const SECRET = "pw-Zq9/x+y=z&ä";

/** Secrets long enough for their encoded forms to be looked for. */
const secrets = fc.string({ unit: "grapheme", minLength: MIN_ENCODED_SECRET_CHARS, maxLength: 40 });
const bytes = fc.uint8Array({ maxLength: 20 });

function base64Of(...parts: Uint8Array[]): string {
  return Buffer.concat(parts).toString("base64");
}

describe("redact", () => {
  it("redacts each line of a secret of several lines (a PEM key) wherever the line shows up alone", () => {
    const key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\r\nAQEFAASCBKcwggSjAgEAAoIB\nxyz\n-----END KEY-----\n";
    const redactKey = redactor([key]);
    expect(redactKey("step 3: MIIEvQIBADANBgkqhkiG9w0B")).toBe(`step 3: ${REDACTED}`);
    expect(redactKey("AQEFAASCBKcwggSjAgEAAoIB")).toBe(REDACTED);
    expect(redactKey(key)).toBe(REDACTED);
    // Lines shorter than MIN_ENCODED_SECRET_CHARS are ordinary text.
    expect(redactKey("xyz")).toBe("xyz");
    // Each line's encoded forms too.
    expect(redactKey(Buffer.from("MIIEvQIBADANBgkqhkiG9w0B").toString("base64"))).toContain(REDACTED);
  });

  it("replaces the secret as it is, every time, and leaves other text alone", () => {
    expect(redact(`a ${SECRET} b ${SECRET}`, [SECRET])).toBe(`a ${REDACTED} b ${REDACTED}`);
    expect(redact("nothing here", [SECRET, undefined, ""])).toBe("nothing here");
  });

  it("catches the URL-encoded forms: percent-escapes in either case, and a form's + for a space", () => {
    const secret = "p@ss w/rd:1";
    const redactSecret = redactor([secret]);
    expect(redactSecret(`https://u:${encodeURIComponent(secret)}@host/`)).toBe(`https://u:${REDACTED}@host/`);
    expect(redactSecret("x=p%40ss%20w%2frd%3a1&y")).toBe(`x=${REDACTED}&y`);
    expect(redactSecret(`x=${new URLSearchParams({ s: secret }).toString().slice(2)}`)).toBe(`x=${REDACTED}`);
  });

  it("catches the JSON-escaped forms", () => {
    const secret = 'a"b\\c/d\tä';
    const redactSecret = redactor([secret]);
    expect(redactSecret(JSON.stringify({ password: secret }))).toBe(`{"password":"${REDACTED}"}`);
    expect(redactSecret('{"p":"a\\"b\\\\c\\/d\\t\\u00e4"}')).toBe(`{"p":"${REDACTED}"}`);
  });

  it("catches `echo <secret> | base64`, standard and URL-safe", () => {
    const printed = Buffer.from(`${SECRET}\n`).toString("base64");
    const redacted = redact(printed, [SECRET]);
    expect(redacted).toContain(REDACTED);
    expect(Buffer.from(redacted, "base64").includes(SECRET)).toBe(false);
    const urlSafe = Buffer.from(`x${SECRET}`).toString("base64url");
    expect(Buffer.from(redact(urlSafe, [SECRET]), "base64url").includes(SECRET)).toBe(false);
  });

  it("looks for the literal form only of a secret shorter than the minimum", () => {
    expect(redact("abc YWJj %61bc", ["abc"])).toBe(`${REDACTED} YWJj %61bc`);
  });

  it("leaves no decodable trace of a secret embedded in longer base64, at every alignment (property)", () => {
    fc.assert(
      fc.property(secrets, bytes, bytes, (secret, before, after) => {
        const encoded = base64Of(before, Buffer.from(secret), after);
        const redacted = redact(encoded, [secret]);
        expect(redacted).toContain(REDACTED);
        // Around `***` the remaining characters decode to a few stray bits, never to the secret.
        for (const piece of redacted.split(REDACTED)) expect(Buffer.from(piece, "base64").includes(secret)).toBe(false);
      }),
    );
  });

  it("leaves nothing of a secret in text that carries it literally, URL-encoded or JSON-escaped (property)", () => {
    fc.assert(
      fc.property(secrets, fc.string(), fc.string(), (secret, before, after) => {
        const redactSecret = redactor([secret]);
        expect(redactSecret(`${before}${secret}${after}`)).not.toContain(secret);
        const url = redactSecret(`${encodeURIComponent(before)}${encodeURIComponent(secret)}${encodeURIComponent(after)}`);
        expect(url).not.toContain(encodeURIComponent(secret));
        const json = redactSecret(JSON.stringify({ line: `${before}${secret}${after}` }));
        expect(json).not.toContain(JSON.stringify(secret).slice(1, -1));
      }),
    );
  });
});
