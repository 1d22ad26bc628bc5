/**
 * Property tests over the seed request parser, inside workerd (the runtime
 * whose multipart parser it relies on): whatever arrives, it either
 * yields a build whose names pass the reference grammar, or a 4xx ApiError
 * naming a field. Never another exception (which would be a 500).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkContextPath } from "../../shared/context-path";
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

  it("still accepts a well-formed build (the property above is not vacuous)", async () => {
    const form = new FormData();
    form.append("dockerfile", new File(["FROM scratch\n"], "Dockerfile"));
    form.append("optional_files", new File(["x"], "src/app.sh"));
    const request = new Request("http://dockify.test/build?user_name=alice&repo=web&tag=v1&labels=arch%3Damd64", { method: "POST", body: form });
    expect(await outcome(request)).toBe("ok");
  });
});
