import type { ErrorBody, Build } from "../../shared/api";
import { pack, type Headers as TarHeaders } from "tar-stream";
import { describe, expect, it } from "vitest";
import { archive, DOCKERFILE, file, header, hostileArchives } from "../fixtures/tar";
import { ALICE, call, gzip, listTar, storedBytes, storedContexts, uploadRows } from "./helpers";

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

function post(body: BodyInit, query = "user_name=alice&repo=web&tag=t1", headers: Record<string, string> = {}) {
  return call(`/v1/builds?${query}`, {
    method: "POST",
    headers: { Authorization: ALICE, "Content-Type": "application/x-tar", ...headers },
    body,
  });
}

/** Nothing of a refused request stays: no context in R2, no row in the pool. */
async function expectNothingKept(before: string[]): Promise<void> {
  expect(await storedContexts()).toEqual(before);
  expect((await uploadRows()).filter((row) => row.kind === "request")).toEqual([]);
}

const HONEST: Entry[] = [
  { name: "./", type: "directory", mode: 0o755 },
  { name: "./Dockerfile", content: DOCKERFILE },
  { name: "src/", type: "directory", mode: 0o750 },
  { name: "src/app.sh", content: "echo hi\n", mode: 0o755 },
  { name: "src/current", type: "symlink", linkname: "app.sh" },
  { name: "src/up", type: "symlink", linkname: "../Dockerfile" },
  { name: "copy.sh", type: "link", linkname: "src/app.sh" },
];

/** What the Worker stores for HONEST: the checked entries, written anew (no root entry, no "./", links with their targets). */
const STORED = [
  { name: "Dockerfile", type: "file", mode: 0o644, content: DOCKERFILE },
  { name: "src/", type: "directory", mode: 0o750 },
  { name: "src/app.sh", type: "file", mode: 0o755, content: "echo hi\n" },
  { name: "src/current", type: "symlink", mode: 0o777, linkname: "app.sh" },
  { name: "src/up", type: "symlink", mode: 0o777, linkname: "../Dockerfile" },
  { name: "copy.sh", type: "link", mode: 0o755, linkname: "src/app.sh" },
];

describe("POST /v1/builds with a tarball context", () => {
  it("stores the checked entries written anew, not the bytes it was sent", async () => {
    const tar = await tarOf(HONEST);
    const response = await post(tar);
    expect(response.status).toBe(202);
    const view = await response.json<Build>();
    expect(view).toMatchObject({ state: "queued", files: { tarball: { size: tar.byteLength } }, image_reference: "alice/web:t1" });
    expect(await storedContexts()).toContain(`contexts/${view.id}.tar`);
    const stored = await storedBytes(`contexts/${view.id}.tar`);
    expect(await listTar(stored)).toEqual(STORED);
    expect(stored).not.toEqual(tar);
    expect(await uploadRows()).not.toContainEqual(expect.objectContaining({ id: view.id }));
  });

  it("takes a gzip-compressed tar, whatever its Content-Type says, and stores it checked and uncompressed", async () => {
    for (const type of ["application/gzip", "application/x-tar"]) {
      const response = await post(await gzip(await tarOf(HONEST)), undefined, { "Content-Type": type });
      expect(response.status).toBe(202);
      const { id } = await response.json<Build>();
      expect(await listTar(await storedBytes(`contexts/${id}.tar`))).toEqual(STORED);
    }
  });

  it.each(hostileArchives())("refuses %s with a 400 naming the context, and keeps nothing", async (_name, bytes) => {
    const before = await storedContexts();
    const response = await post(bytes);
    expect(response.status).toBe(400);
    const body = await response.json<ErrorBody>();
    expect(body.field).toBe("context");
    expect(body.error).toMatch(/^context: /);
    await expectNothingKept(before);
  });

  it("refuses the same archives gzip-compressed", async () => {
    const before = await storedContexts();
    for (const [, bytes] of hostileArchives().slice(0, 4)) {
      const response = await post(await gzip(bytes));
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ field: "context" });
    }
    await expectNothingKept(before);
  });

  it("refuses more entries than DOCKIFY_MAX_CONTEXT_ENTRIES", async () => {
    const before = await storedContexts();
    const many = archive([file("Dockerfile", DOCKERFILE), ...Array.from({ length: 50 }, (_, i) => file(`f${i}`, "x"))]);
    const response = await post(many);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ field: "context", error: expect.stringMatching(/more than 50 entries/) });
    await expectNothingKept(before);
  });

  it("refuses a gzip bomb past DOCKIFY_MAX_CONTEXT_BYTES as too large, and corrupt gzip as bad, keeping nothing", async () => {
    const before = await storedContexts();
    // 64 MiB of zeros behind a valid Dockerfile compress to about 64 KiB; the cap in this project is 16 MiB.
    const zeros = new Uint8Array(64 * 1024 * 1024);
    const bomb = await gzip(archive([file("Dockerfile", DOCKERFILE), header({ name: "zeros", size: zeros.length }), zeros]));
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const refused = await post(bomb);
    expect(refused.status).toBe(413);
    expect(await refused.json()).toMatchObject({ field: "context", error: expect.stringMatching(/larger than 16777216 bytes \(uncompressed\)/) });
    const corrupt = await gzip(archive([file("Dockerfile", DOCKERFILE)]));
    corrupt[corrupt.length - 6] = corrupt[corrupt.length - 6]! ^ 0xff;
    const bad = await post(corrupt);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ field: "context", error: expect.stringMatching(/gzip/) });
    await expectNothingKept(before);
  });

  it("refuses bytes that are not a tar, and a tar cut off in the middle", async () => {
    const before = await storedContexts();
    const garbage = new Uint8Array(2048).fill(7);
    const whole = await tarOf([{ name: "Dockerfile", content: DOCKERFILE }, { name: "big", content: "z".repeat(5000) }]);
    for (const body of [garbage, whole.slice(0, 3000)]) {
      const response = await post(body);
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ field: "context" });
    }
    await expectNothingKept(before);
  });

  it("answers a body shorter than its length 400 and one that stalls 408 (DOCKIFY_BODY_IDLE_SECONDS), keeping nothing", async () => {
    const before = await storedContexts();
    const start = archive([file("Dockerfile", DOCKERFILE)]).subarray(0, 1024);
    // Shorter than its Content-Length, then the end: the client half-closed.
    const short = await post(chunked(start), undefined, { "Content-Length": "4096" });
    expect(short.status).toBe(400);
    expect(await short.json()).toMatchObject({ field: "body", error: expect.stringMatching(/ended after 1024 of its 4096 bytes/) });
    const stalling = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(start);
      },
    });
    const started = Date.now();
    const stalled = await post(stalling, undefined, { "Content-Length": "4096" });
    expect(stalled.status).toBe(408);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await stalled.json()).toMatchObject({ field: "body", error: expect.stringMatching(/DOCKIFY_BODY_IDLE_SECONDS/) });
    await expectNothingKept(before);
  });

  it("refuses the wrong content type, a missing length, a password in the URL and unknown fields", async () => {
    const tar = await tarOf([{ name: "Dockerfile", content: DOCKERFILE }]);
    const cases: [Promise<Response>, number, string][] = [
      [post(tar, undefined, { "Content-Type": "text/plain" }), 415, "Content-Type"],
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
