/**
 * Property tests over the seed request parser, inside workerd (the runtime
 * whose multipart parser it relies on): whatever arrives, it either
 * yields a build whose names pass the reference grammar, or a 4xx ApiError
 * naming a field. Never another exception (which would be a 500).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeHeaderJson, LOGINS_HEADER, SECRETS_HEADER } from "../../shared/api";
import { checkContextPath } from "../../shared/context-path";
import { PLATFORM_TEXT } from "../../shared/platform";
import { checkRegistry, checkRepositoryPath, checkTag } from "../../shared/reference";
import { readSeedForm } from "../../worker/requests/seed-form";
import { settings, type Settings } from "../../worker/settings";
import { repackContext } from "../../shared/context/repack";
import { ApiError } from "../../worker/errors";

const LIMITS: Settings = {
  ...settings({}),
  maxRequestBytes: 1024 * 1024,
  maxFiles: 5,
  maxDockerfileBytes: 1024,
  maxContextEntries: 100,
};

const FIELDS = ["user_name", "repo", "tag", "registry", "password", "labels", "dockerfile", "optional_files", "other"];
const nasty = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom("alice", "web", "v1", "127.0.0.1:5000", "../x", "/etc/passwd", "a\\b", "Dockerfile", "a\u0000b", "", " ", "k=v", "a".repeat(130)),
);
const textPart = fc.record({ kind: fc.constant("text" as const), name: fc.constantFrom(...FIELDS), value: nasty });
// workerd itself refuses to build a multipart filename that ends in a backslash, so the client side never sends one.
const filename = nasty.filter((name) => !name.endsWith("\\"));
const filePart = fc.record({ kind: fc.constant("file" as const), name: fc.constantFrom(...FIELDS), filename, content: fc.string({ maxLength: 2000 }) });

async function outcome(request: Request): Promise<"ok" | "refused"> {
  try {
    const { spec, files, context } = await readSeedForm(request, LIMITS);
    expect(checkRepositoryPath(spec.image.path)).toBeNull();
    expect(checkTag(spec.image.tag)).toBeNull();
    expect(checkRegistry(spec.image.registry)).toBeNull();
    if (!("dockerfile" in files)) throw new Error("a seed build lists its files");
    for (const name of Object.keys(files.optional_files)) expect(checkContextPath(name)).toBeNull();
    expect(files.dockerfile.size).toBeGreaterThan(0);
    if (context.kind !== "request") throw new Error("a seed build carries its context");
    expect(context.reservedBytes).toBeGreaterThan(files.dockerfile.size);
    // What the form packs passes the same check every context passes.
    let packed = 0;
    for await (const chunk of repackContext(context.chunks(), { maxEntries: LIMITS.maxContextEntries })) packed += chunk.length;
    expect(packed).toBe(context.reservedBytes);
    return "ok";
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    expect(error.status).toBeGreaterThanOrEqual(400);
    expect(error.status).toBeLessThan(500);
    const body = (await error.getResponse().json()) as { error: string; field: string };
    expect(body.field.length).toBeGreaterThan(0);
    return "refused";
  }
}

describe("seed request parsing under arbitrary input", () => {
  it("accepts only valid builds and refuses everything else with a 4xx naming a field", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom(...FIELDS), nasty), { maxLength: 6 }), fc.array(fc.oneof(textPart, filePart), { maxLength: 8 }), async (query, parts) => {
        const url = new URL("http://dockify.test/build");
        for (const [key, value] of query) url.searchParams.append(key, value);
        const form = new FormData();
        for (const part of parts) {
          if (part.kind === "text") form.append(part.name, part.value);
          else form.append(part.name, new File([part.content], part.filename));
        }
        await outcome(new Request(url, { method: "POST", body: form }));
      }),
      { numRuns: 400 },
    );
  });

  it("refuses arbitrary bytes sent as multipart with a 400", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 600 }), async (bytes) => {
        const request = new Request("http://dockify.test/build?user_name=alice&repo=web", {
          method: "POST",
          headers: { "Content-Type": "multipart/form-data; boundary=xyz" },
          body: bytes,
        });
        expect(await outcome(request)).toBe("refused");
      }),
      { numRuns: 200 },
    );
  });

  it("reads build options and the logins and secrets headers, or refuses them naming the field, never echoing a secret", async () => {
    const OPTION_FIELDS = ["build_arg", "target", "no_cache", "platform", "also_push"];
    // Mostly values that pass, so that accepted builds are checked too, with refused and nasty ones among them.
    const mostly = (good: string[], bad: string[]) =>
      fc.oneof({ arbitrary: fc.constantFrom(...good), weight: 6 }, { arbitrary: fc.constantFrom(...bad), weight: 1 }, { arbitrary: nasty, weight: 1 });
    const optionFields = fc.record({
      build_arg: fc.array(mostly(["A=1", "Z_9=a=b", "B="], ["BUILDKIT_X=1", "1A=x", "A"]), { maxLength: 3 }),
      target: fc.array(mostly(["stage", "a.b-c"], ["-x"]), { maxLength: 1 }),
      no_cache: fc.array(mostly(["true", "0"], ["yes"]), { maxLength: 1 }),
      platform: fc.array(mostly(["linux/amd64", "linux/arm64/v8"], ["linux", "Linux/AMD64"]), { maxLength: 1 }),
      also_push: fc.array(mostly(["r.io/a/b:c", "alice/other:v2"], ["Bad/Ref", "alice/web:latest"]), { maxLength: 2 }),
    });
    const secretText = fc.string({ minLength: 8, maxLength: 30 }).map((text) => `S3cr3t-${text}`);
    const key = fc.oneof({ arbitrary: fc.constantFrom("r.io", "127.0.0.1:5001", "docker.io", "npm", "key.pem"), weight: 4 }, { arbitrary: nasty, weight: 1 });
    const printable = nasty.filter((text) => /^[\x20-\x7e]*$/.test(text));
    /** A header: mostly the right JSON, else any JSON or any text; absent half the time (freq 2: null one time in 2). */
    const headerOf = (json: fc.Arbitrary<unknown>) =>
      fc.option(
        fc.oneof({ arbitrary: json.map(encodeHeaderJson), weight: 4 }, { arbitrary: fc.jsonValue().map(encodeHeaderJson), weight: 1 }, { arbitrary: printable, weight: 1 }),
        { freq: 2 },
      );
    const loginsHeader = headerOf(fc.dictionary(key, fc.record({ username: fc.oneof(fc.constantFrom("carol", "u"), nasty), password: secretText }), { maxKeys: 3 }));
    const secretsHeader = headerOf(fc.dictionary(key, secretText, { maxKeys: 3 }));
    await fc.assert(
      fc.asyncProperty(optionFields, loginsHeader, secretsHeader, async (options, logins, secrets) => {
        const url = new URL("http://dockify.test/build?user_name=alice&repo=web");
        for (const [key, values] of Object.entries(options)) for (const value of values) url.searchParams.append(key, value);
        const form = new FormData();
        form.append("dockerfile", new File(["FROM scratch\n"], "Dockerfile"));
        const headers = new Headers();
        if (logins !== null) headers.set(LOGINS_HEADER, logins);
        if (secrets !== null) headers.set(SECRETS_HEADER, secrets);
        try {
          const { spec } = await readSeedForm(new Request(url, { method: "POST", body: form, headers }), LIMITS);
          for (const name of Object.keys(spec.options.buildArgs)) expect(name).toMatch(/^[A-Za-z_][A-Za-z0-9_]*$/);
          if (spec.options.platform !== undefined) expect(spec.options.platform).toMatch(PLATFORM_TEXT);
          for (const image of spec.alsoPush) expect(checkRepositoryPath(image.path) ?? checkTag(image.tag)).toBeNull();
          for (const host of Object.keys(spec.logins)) expect(checkRegistry(host)).toBeNull();
        } catch (error) {
          if (!(error instanceof ApiError)) throw error;
          expect(error.status).toBe(400);
          const body = (await error.getResponse().json()) as { error: string; field: string };
          expect([...OPTION_FIELDS, LOGINS_HEADER, SECRETS_HEADER]).toContain(body.field);
          for (const secret of JSON.stringify([logins, secrets]).match(/S3cr3t-[^"\\]*/g) ?? []) expect(body.error).not.toContain(secret);
        }
      }),
      { numRuns: 400 },
    );
  });

  it("still accepts a well-formed build (the property above is not vacuous)", async () => {
    const form = new FormData();
    form.append("dockerfile", new File(["FROM scratch\n"], "Dockerfile"));
    form.append("optional_files", new File(["x"], "src/app.sh"));
    const request = new Request("http://dockify.test/build?user_name=alice&repo=web&tag=v1&labels=arch%3Damd64", { method: "POST", body: form });
    expect(await outcome(request)).toBe("ok");
  });
});
