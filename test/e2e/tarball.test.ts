/**
 * POST /v1/builds end to end: a user's own context tarball, with folders and a
 * symlink inside it, built by the real agent and pushed to the login-protected
 * registry; a hostile tarball refused before anything is stored.
 */
import { pack, type Headers as TarHeaders } from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ok } from "../../harness/api";
import { pullImage, removeImage, runAndCapture } from "../../harness/docker";
import { startStack, type Stack } from "../../harness/stack";

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

function submitTarball(tar: Buffer, tag: string) {
  const query = { user_name: stack.secrets.registryUser, repo: "tarball", tag, registry: stack.registry.host };
  return stack.api.submitTarball(tar, query, { password: stack.secrets.registryPassword });
}

describe("tarball contexts end to end", () => {
  it("builds a user's tarball with folders and an inner symlink, and the pulled image holds them", async () => {
    const tar = await tarOf([
      { name: "Dockerfile", content: `FROM ${stack.baseImage}\nCOPY site/ /site/\nRUN cat /site/current > /out.txt\n` },
      { name: "site/", type: "directory" },
      { name: "site/index.html", content: "<p>from a tarball</p>\n" },
      { name: "site/current", type: "symlink", linkname: "index.html" },
    ]);
    const response = await submitTarball(tar, "v1");
    expect(response.status).toBe(202);
    const { id } = ok(response);
    const final = await stack.api.waitForStatus(id);
    expect(final).toMatchObject({ status: "success", digest: expect.stringMatching(/^sha256:/) });
    const reference = `${stack.registry.host}/${stack.secrets.registryUser}/tarball:v1`;
    await removeImage(reference);
    await pullImage(reference, { username: stack.secrets.registryUser, password: stack.secrets.registryPassword });
    expect(await runAndCapture(reference, ["cat", "/out.txt"])).toBe("<p>from a tarball</p>\n");
    await removeImage(reference);
  });

  it("refuses a tarball whose symlink points outside the context, with nothing queued", async () => {
    const tar = await tarOf([
      { name: "Dockerfile", content: "FROM scratch\nCOPY . /\n" },
      { name: "keys", type: "symlink", linkname: "/root/.ssh" },
    ]);
    const response = await submitTarball(tar, "hostile");
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ field: "context", error: expect.stringMatching(/symlink "keys" points to the absolute path/) });
    const { builds } = ok(await stack.api.list());
    expect(builds.map((build) => build.image_reference)).not.toContain(`${stack.registry.host}/${stack.secrets.registryUser}/tarball:hostile`);
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
  });
});
