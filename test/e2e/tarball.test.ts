/**
 * POST /v1/builds end to end: a user's own context tarball, with folders,
 * symlinks and a hard link, built by the real agent and pushed to the
 * login-protected registry, the pulled image holding exactly the entries the
 * Worker checked; the red team's tarballs (#13) refused before anything is
 * stored, each shown first to put a FIFO, a device or an unchecked file into
 * an image when the Engine reads it unchecked.
 */
import { randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { pack, type Headers as TarHeaders } from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ok } from "../../harness/api";
import { docker, E2E_LABEL, imageLayerEntries, pullImage, readJsonStream, removeImage, runAndCapture } from "../../harness/docker";
import { r2Blobs } from "../../harness/persist";
import { poll, notYet } from "../../harness/poll";
import { startStack, type Stack } from "../../harness/stack";
import { hostileArchives } from "../fixtures/tar";

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});

afterAll(async () => {
  await stack?.stop();
});

async function tarOf(entries: (TarHeaders & { content?: string })[]): Promise<Buffer> {
  const archive = pack();
  for (const { content, ...header } of entries) archive.entry(header, content ?? "");
  archive.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of archive) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function submitTarball(tar: Uint8Array, tag: string) {
  const query = { user_name: stack.secrets.registryUser, repo: "tarball", tag, registry: stack.registry.host };
  return stack.api.submitTarball(tar, query, { password: stack.secrets.registryPassword });
}

function reference(tag: string): string {
  return `${stack.registry.host}/${stack.secrets.registryUser}/tarball:${tag}`;
}

const auth = () => ({ username: stack.secrets.registryUser, password: stack.secrets.registryPassword });

/** Builds `tar` on the Engine directly, unchecked, as the classic builder would have read it; returns the image's entries. */
async function buildUnchecked(tar: Uint8Array): Promise<{ name: string; type: string }[]> {
  const tag = `dockify-e2e-unchecked:${randomBytes(6).toString("hex")}`;
  const stream = await docker.buildImage(Buffer.from(tar) as unknown as NodeJS.ReadableStream, { t: tag, rm: true, forcerm: true, labels: { [E2E_LABEL]: "true" } });
  await readJsonStream(stream, "the unchecked build");
  try {
    return (await imageLayerEntries(tag)).map(({ name, type }) => ({ name, type }));
  } finally {
    await removeImage(tag);
  }
}

describe("tarball contexts end to end", () => {
  it("builds a tarball with folders, symlinks and a hard link; the pulled image holds exactly the checked entries", async () => {
    const tar = await tarOf([
      { name: "./", type: "directory", mode: 0o755 },
      { name: "./Dockerfile", content: "FROM scratch\nCOPY . /\n" },
      { name: "site/", type: "directory", mode: 0o750 },
      { name: "site/index.html", content: "<p>from a tarball</p>\n" },
      { name: "site/current", type: "symlink", linkname: "index.html" },
      { name: "site/up", type: "symlink", linkname: "../Dockerfile" },
      { name: "app.sh", content: "echo hi\n", mode: 0o755 },
      { name: "copy.sh", type: "link", linkname: "app.sh" },
    ]);
    const { id } = ok(await submitTarball(tar, "exact"), 202);
    expect(await stack.api.waitForStatus(id)).toMatchObject({ status: "success", digest: expect.stringMatching(/^sha256:/) });
    await removeImage(reference("exact"));
    await pullImage(reference("exact"), auth());
    try {
      const entries = await imageLayerEntries(reference("exact"));
      expect(entries.map(({ name, type, linkname }) => [name, type, linkname ?? null]).sort()).toEqual(
        [
          ["Dockerfile", "file", null],
          ["app.sh", "file", null],
          ["copy.sh", "link", "app.sh"],
          ["site", "directory", null],
          ["site/current", "symlink", "index.html"],
          ["site/index.html", "file", null],
          ["site/up", "symlink", "../Dockerfile"],
        ].sort(),
      );
      expect(entries.find(({ name }) => name === "site")?.mode).toBe(0o750);
      expect(entries.find(({ name }) => name === "app.sh")?.mode).toBe(0o755);
    } finally {
      await removeImage(reference("exact"));
    }
  });

  it("builds a gzip-compressed tarball whose RUN reads through a symlink", async () => {
    const tar = await tarOf([
      { name: "Dockerfile", content: `FROM ${stack.baseImage}\nCOPY site/ /site/\nRUN cat /site/current > /out.txt\n` },
      { name: "site/", type: "directory" },
      { name: "site/index.html", content: "<p>from a gzip tarball</p>\n" },
      { name: "site/current", type: "symlink", linkname: "index.html" },
    ]);
    const { id } = ok(await submitTarball(gzipSync(tar), "gzip"), 202);
    expect(await stack.api.waitForStatus(id)).toMatchObject({ status: "success" });
    await removeImage(reference("gzip"));
    await pullImage(reference("gzip"), auth());
    expect(await runAndCapture(reference("gzip"), ["cat", "/out.txt"])).toBe("<p>from a gzip tarball</p>\n");
    await removeImage(reference("gzip"));
  });

  it("shows the red team's link trick puts a FIFO and a device in an image when the Engine reads it unchecked", async () => {
    const [name, smuggling] = hostileArchives()[0]!;
    expect(name).toMatch(/hard link whose data is more headers/);
    const entries = await buildUnchecked(smuggling);
    expect(entries).toEqual(expect.arrayContaining([{ name: "pipe", type: "fifo" }, { name: "null", type: "character-device" }]));
  });

  it("refuses every one of the red team's tarballs with a 400 naming the context, builds none, keeps nothing", async () => {
    const blobsBefore = r2Blobs(stack.worker.persistDir).map(({ path }) => path).sort();
    const refusals: string[] = [];
    for (const [index, [name, bytes]] of hostileArchives().entries()) {
      const response = await submitTarball(bytes, `hostile-${index}`);
      expect(response.status, name).toBe(400);
      expect(response.body, name).toMatchObject({ field: "context", error: expect.stringMatching(/^context: /) });
      refusals.push(`${name}: ${(response.body as { error: string }).error}`);
    }
    console.log(`refusals:\n  ${refusals.join("\n  ")}`);
    const { builds } = ok(await stack.api.list({ limit: 100 }));
    expect(builds.filter((build) => build.image_reference.includes(":hostile-"))).toEqual([]);
    // Nothing of them in R2 either; R2 drops replaced blobs in the background, so the count may settle a moment later.
    await poll("R2's blobs back to what they were", async () => {
      const now = r2Blobs(stack.worker.persistDir).map(({ path }) => path).sort();
      return JSON.stringify(now) === JSON.stringify(blobsBefore) ? now : notYet(`${now.length} blobs, ${blobsBefore.length} before`);
    }, { timeoutMs: 10_000, intervalMs: 200 });
  });

  it("answers refused tarballs one after another and stays up: the refusal waits for the whole body", async () => {
    // The refused link sits between two large files: the Worker refuses mid-upload, with most of the body unread.
    const padding = "x".repeat(300_000);
    const tar = await tarOf([
      { name: "Dockerfile", content: "FROM scratch\n" },
      { name: "before", content: padding },
      { name: "keys", type: "link", linkname: "../../etc/passwd" },
      { name: "after", content: padding },
    ]);
    for (let round = 0; round < 3; round++) {
      const response = await submitTarball(tar, `refused-${round}`);
      expect(response.status).toBe(400);
      expect(response.body).toMatchObject({ field: "context", error: expect.stringMatching(/hard link "keys" points outside/) });
    }
    expect(stack.worker.process.running).toBe(true);
    const honest = await tarOf([{ name: "Dockerfile", content: `FROM ${stack.baseImage}\n` }]);
    const accepted = await submitTarball(honest, "after-refusals");
    expect(accepted.status).toBe(202);
    const { id } = ok(accepted);
    expect(await stack.api.waitForStatus(id)).toMatchObject({ status: "success" });
    expect(stack.worker.output()).not.toMatch(/Uncaught|unhandled/i);
  });
});
