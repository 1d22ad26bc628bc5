import type { ErrorBody, Build } from "../../shared/api";
import { pack, type Headers as TarHeaders } from "tar-stream";
import { describe, expect, it } from "vitest";
import { ALICE, call, storedContexts } from "./helpers";

type Entry = TarHeaders & { content?: string };

async function tarOf(entries: Entry[]): Promise<Uint8Array> {
  const archive = pack();
  for (const { content, ...header } of entries) archive.entry(header, content ?? "");
  archive.finalize();
  const chunks: Uint8Array[] = [];
  for await (const chunk of archive) chunks.push(chunk as Uint8Array);
  return new Uint8Array(await new Blob(chunks).arrayBuffer());
}

/** A body of unknown length, as a chunked upload sends it. */
function chunked(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
}

const DOCKERFILE: Entry = { name: "Dockerfile", content: "FROM scratch\nCOPY . /\n" };

function post(body: BodyInit, query = "user_name=alice&repo=web&tag=t1", headers: Record<string, string> = {}) {
  return call(`/v1/builds?${query}`, {
    method: "POST",
    headers: { Authorization: ALICE, "Content-Type": "application/x-tar", ...headers },
    body,
  });
}

describe("POST /v1/builds with a tarball context", () => {
  it("accepts a clean context with folders and links inside it, and stores it byte for byte", async () => {
    const tar = await tarOf([
      DOCKERFILE,
      { name: "src/", type: "directory" },
      { name: "src/app.sh", content: "echo hi\n", mode: 0o755 },
      { name: "src/current", type: "symlink", linkname: "app.sh" },
      { name: "src/up", type: "symlink", linkname: "../Dockerfile" },
      { name: "copy.sh", type: "link", linkname: "src/app.sh" },
    ]);
    const response = await post(tar);
    expect(response.status).toBe(202);
    const view = await response.json<Build>();
    expect(view).toMatchObject({ state: "queued", files: { tarball: { size: tar.byteLength } }, image_reference: "alice/web:t1" });
    expect(await storedContexts()).toContain(`contexts/${view.id}.tar`);
  });

  const hostile: [string, Entry[]][] = [
    ["an entry escaping the root", [DOCKERFILE, { name: "../escape", content: "x" }]],
    ["an absolute path", [DOCKERFILE, { name: "/etc/cron.d/evil", content: "x" }]],
    ["a symlink to an absolute path", [DOCKERFILE, { name: "passwd", type: "symlink", linkname: "/etc/passwd" }]],
    ["a symlink climbing out", [DOCKERFILE, { name: "a/b/link", type: "symlink", linkname: "../../../x" }]],
    ["a hard link to outside", [DOCKERFILE, { name: "hard", type: "link", linkname: "../../etc/shadow" }]],
    ["a character device", [DOCKERFILE, { name: "null", type: "character-device", devmajor: 1, devminor: 3 }]],
    ["a FIFO", [DOCKERFILE, { name: "pipe", type: "fifo" }]],
    ["no Dockerfile at the root", [{ name: "sub/Dockerfile", content: "FROM scratch\n" }]],
    ["a Dockerfile that is a symlink", [{ name: "Dockerfile", type: "symlink", linkname: "other" }, { name: "other", content: "FROM scratch" }]],
    ["more entries than DOCKIFY_MAX_CONTEXT_ENTRIES", [DOCKERFILE, ...Array.from({ length: 50 }, (_, i) => ({ name: `f${i}`, content: "x" }))]],
  ];

  it.each(hostile)("refuses %s with a 400 naming the context, and stores nothing", async (_name, entries) => {
    const before = await storedContexts();
    const response = await post(await tarOf(entries));
    expect(response.status).toBe(400);
    const body = await response.json<ErrorBody>();
    expect(body.field).toBe("context");
    expect(body.error).toMatch(/^context: /);
    expect(await storedContexts()).toEqual(before);
  });

  it("refuses bytes that are not a tar, and a tar cut off in the middle", async () => {
    const before = await storedContexts();
    const garbage = new Uint8Array(2048).fill(7);
    const whole = await tarOf([DOCKERFILE, { name: "big", content: "z".repeat(5000) }]);
    for (const body of [garbage, whole.slice(0, 3000)]) {
      const response = await post(body);
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ field: "context" });
    }
    expect(await storedContexts()).toEqual(before);
  });

  it("refuses the wrong content type, a missing length, a password in the URL and unknown fields", async () => {
    const tar = await tarOf([DOCKERFILE]);
    const cases: [Promise<Response>, number, string][] = [
      [post(tar, undefined, { "Content-Type": "application/gzip" }), 415, "Content-Type"],
      [post(chunked(tar), undefined), 411, "Content-Length"],
      [post(tar, "user_name=alice&repo=web&password=hunter2"), 400, "password"],
      [post(tar, "user_name=alice&repo=web&colour=red"), 400, "colour"],
      [post(tar, "user_name=Alice&repo=web"), 400, "user_name"],
    ];
    for (const [pending, status, field] of cases) {
      const response = await pending;
      expect(response.status).toBe(status);
      expect(await response.json()).toMatchObject({ field });
    }
  });
});
