/**
 * Packing a build folder: what .dockerignore keeps out and brings back, the
 * Dockerfile always sent, symlinks kept as symlinks, a
 * Dockerfile from outside the folder carried along; and the same folder gives
 * the very entries the Docker CLI itself sends (when the `docker` command is
 * here: its request body caught by a stand-in Engine on a Unix socket).
 */
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createServer } from "node:http";
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createGunzip } from "node:zlib";
import { extract } from "tar-stream";
import { afterAll, describe, expect, it } from "vitest";
import { packContext, type PackedContext } from "./pack";

const temp: string[] = [];
afterAll(() => {
  for (const dir of temp) rmSync(dir, { recursive: true, force: true });
});

function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "dockify-pack-test-"));
  temp.push(dir);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

interface Entry {
  type: string;
  content?: string;
  linkname?: string;
  uid?: number;
  mode?: number;
}

async function entries(packed: PackedContext): Promise<Map<string, Entry>> {
  const found = new Map<string, Entry>();
  const reader = extract();
  createReadStream(packed.file).pipe(createGunzip()).pipe(reader);
  for await (const entry of reader) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    const { name, type, linkname, uid, mode } = entry.header;
    found.set(name, { type: type ?? "file", uid, mode, ...(type === "file" ? { content: Buffer.concat(chunks).toString() } : {}), ...(linkname ? { linkname } : {}) });
  }
  return found;
}

/** Files only, as a sorted list: what COPY . puts in an image. */
function files(found: Map<string, Entry>): string[] {
  return [...found].filter(([, entry]) => entry.type !== "directory").map(([name]) => name).sort();
}

/** A folder that exercises Docker's rules: `*` per level, `**`, `!` exceptions under excluded folders, rules on the Dockerfile. */
const TRICKY: Record<string, string> = {
  "Dockerfile": "FROM scratch\nCOPY . /ctx/\n",
  ".dockerignore": [
    "# a comment",
    "node_modules",
    "*.log",
    "!keep.log",
    "**/secret.txt",
    "build/",
    "!build/dist/app.js",
    "docs/*/draft.md",
    "/rooted.txt",
    "Dockerfile",
    "*/nested.log",
    "",
  ].join("\n"),
  "app.js": "app",
  "keep.log": "kept",
  "debug.log": "dropped",
  "node_modules/dep/index.js": "dep",
  "secret.txt": "top secret",
  "src/secret.txt": "nested secret",
  "src/main.js": "main",
  "src/nested.log": "nested log",
  "src/deep/nested.log": "deeper log, not matched by */nested.log",
  "build/tmp.o": "object",
  "build/dist/app.js": "built",
  "build/dist/other.js": "other",
  "docs/a/draft.md": "draft",
  "docs/a/final.md": "final",
  "docs/draft.md": "top draft, not matched by docs/*/draft.md",
  "rooted.txt": "rooted",
  "sub/rooted.txt": "not rooted",
};

describe("packContext", () => {
  it("leaves out what .dockerignore excludes, brings back its exceptions, and always sends the Dockerfile", async () => {
    const packed = await packContext({ dir: folder(TRICKY) });
    try {
      const found = await entries(packed);
      expect(files(found)).toEqual(
        [
          ".dockerignore",
          "Dockerfile",
          "app.js",
          "build/dist/app.js",
          "docs/a/final.md",
          "docs/draft.md",
          "keep.log",
          "src/deep/nested.log",
          "src/main.js",
          "sub/rooted.txt",
        ].sort(),
      );
      expect(found.get("src/main.js")).toMatchObject({ type: "file", content: "main", uid: 0 });
      // An excluded folder is walked for what an exception brings back, but not sent itself.
      expect(found.has("build")).toBe(false);
      expect(found.get("src")).toMatchObject({ type: "directory" });
      expect(packed.dockerfile).toBe("Dockerfile");
      expect(packed.ignoreFile).toBe(".dockerignore");
      expect(packed.entries).toBe(found.size);
      expect(packed.bytes).toBeGreaterThan(0);
    } finally {
      packed.dispose();
    }
  });

  it("leaves out a .dockerignore that excludes itself (the Docker CLI sends it for the daemon to drop; no builder here reads it)", async () => {
    const packed = await packContext({ dir: folder({ "Dockerfile": "FROM scratch\n", ".dockerignore": ".dockerignore\n*.md\n", "a.txt": "a", "b.md": "b" }) });
    expect(files(await entries(packed))).toEqual(["Dockerfile", "a.txt"]);
    packed.dispose();
  });

  it("keeps symlinks as symlinks and file modes, and cleans up its file", async () => {
    const dir = folder({ "Dockerfile": "FROM scratch\n", "bin/run.sh": "#!/bin/sh\n" });
    execFileSync("chmod", ["755", join(dir, "bin/run.sh")]);
    symlinkSync("bin/run.sh", join(dir, "run"));
    symlinkSync("/etc/passwd", join(dir, "outside"));
    const packed = await packContext({ dir });
    const found = await entries(packed);
    expect(found.get("run")).toEqual(expect.objectContaining({ type: "symlink", linkname: "bin/run.sh" }));
    // Not followed: the Worker judges where a link points (one leaving the context is refused there).
    expect(found.get("outside")).toEqual(expect.objectContaining({ type: "symlink", linkname: "/etc/passwd" }));
    expect(found.get("bin/run.sh")!.mode).toBe(0o755);
    packed.dispose();
    expect(existsSync(packed.file)).toBe(false);
  });

  it("uses <Dockerfile>.dockerignore next to a Dockerfile given with -f, as BuildKit's Docker CLI does", async () => {
    const dir = folder({
      "docker/app.Dockerfile": "FROM scratch\n",
      "docker/app.Dockerfile.dockerignore": "*.txt\n",
      ".dockerignore": "*.md\n",
      "a.txt": "a",
      "b.md": "b",
    });
    const packed = await packContext({ dir, dockerfile: join(dir, "docker/app.Dockerfile") });
    expect(files(await entries(packed))).toEqual([".dockerignore", "b.md", "docker/app.Dockerfile", "docker/app.Dockerfile.dockerignore"]);
    expect(packed.dockerfile).toBe("docker/app.Dockerfile");
    expect(packed.ignoreFile).toBe("docker/app.Dockerfile.dockerignore");
    packed.dispose();
  });

  it("carries a Dockerfile from outside the folder under a name of its own", async () => {
    const outside = folder({ "Dockerfile.release": "FROM scratch\nCOPY a /\n" });
    const dir = folder({ a: "a" });
    const packed = await packContext({ dir, dockerfile: join(outside, "Dockerfile.release") });
    const found = await entries(packed);
    expect(packed.dockerfile).toMatch(/^\.dockerfile\.[0-9a-f]{20}$/);
    expect(found.get(packed.dockerfile)).toMatchObject({ type: "file", content: "FROM scratch\nCOPY a /\n" });
    packed.dispose();
  });

  it("packs the same folder into the same bytes (a later run resumes a chunked upload by them)", async () => {
    const dir = folder(TRICKY);
    const outside = folder({ "Dockerfile.release": "FROM scratch\n" });
    const digests = [];
    for (let run = 0; run < 2; run++) {
      const packed = await packContext({ dir, dockerfile: join(outside, "Dockerfile.release") });
      digests.push(createHash("sha256").update(readFileSync(packed.file)).digest("hex"));
      packed.dispose();
    }
    expect(digests[0]).toBe(digests[1]);
  });

  it("says what is wrong when there is no folder or no Dockerfile", async () => {
    await expect(packContext({ dir: "/nonexistent/dockify" })).rejects.toThrow("/nonexistent/dockify: not a folder (the build context must be one)");
    const dir = folder({ "a.txt": "a" });
    await expect(packContext({ dir })).rejects.toThrow(`no Dockerfile at ${join(dir, "Dockerfile")} (name another with -f PATH)`);
  });
});

const hasDockerCli = (() => {
  try {
    execFileSync("docker", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

/**
 * The context the Docker CLI sends for `docker build DIR`, caught by a stand-in Engine on a Unix socket (the legacy
 * builder's path, where the CLI packs the context itself): the tar of the request body, as entries.
 */
async function dockerCliContext(dir: string): Promise<Map<string, Entry>> {
  const socket = join(mkdtempSync(join(tmpdir(), "dockify-engine-")), "docker.sock");
  temp.push(dirname(socket));
  let body: Buffer | undefined;
  const server = createServer((request, response) => {
    if (request.url?.endsWith("/_ping")) {
      response.setHeader("API-Version", "1.41");
      response.end("OK");
      return;
    }
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      if (request.url?.includes("/build")) body = Buffer.concat(chunks);
      response.writeHead(500, { "Content-Type": "application/json" }).end('{"message":"context captured"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  try {
    const child = spawn("docker", ["build", "-t", "dockify-pack-test", dir], {
      env: { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_BUILDKIT: "0" },
      stdio: "ignore",
    });
    await new Promise((resolve) => child.once("exit", resolve));
  } finally {
    server.close();
  }
  if (!body) throw new Error("the Docker CLI sent no build context");
  const found = new Map<string, Entry>();
  const reader = extract();
  reader.end(body);
  for await (const entry of reader) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    const { name, type, linkname } = entry.header;
    found.set(name.replace(/\/$/, ""), { type: type ?? "file", ...(type === "file" ? { content: Buffer.concat(chunks).toString() } : {}), ...(linkname ? { linkname } : {}) });
  }
  return found;
}

/** Name, type, content and link target of every entry, sorted by name. */
function comparable(found: Map<string, Entry>): Entry[] {
  return [...found].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, { type, content, linkname }]) => ({ name, type, content, linkname }) as Entry);
}

describe.skipIf(!hasDockerCli)("packContext against the Docker CLI", () => {
  it("sends exactly the entries `docker build` sends for the same folder and .dockerignore", async () => {
    const dir = folder(TRICKY);
    symlinkSync("src/main.js", join(dir, "link-to-main"));
    symlinkSync("debug.log", join(dir, "link-to-ignored.log"));
    const packed = await packContext({ dir });
    const ours = await entries(packed);
    packed.dispose();
    expect(comparable(ours)).toEqual(comparable(await dockerCliContext(dir)));
  }, 60_000);

  it("sends what `docker build` sends when .dockerignore excludes everything but a few", async () => {
    const dir = folder({
      "Dockerfile": "FROM scratch\n",
      ".dockerignore": "*\n!src\nsrc/**/*.test.js\n!src/keep.test.js\n",
      "README.md": "readme",
      "src/a.js": "a",
      "src/a.test.js": "test",
      "src/keep.test.js": "kept test",
      "src/lib/b.js": "b",
      "src/lib/b.test.js": "b test",
    });
    const packed = await packContext({ dir });
    const ours = await entries(packed);
    packed.dispose();
    const theirs = await dockerCliContext(dir);
    // `*` excludes .dockerignore itself: the Docker CLI sends it for the daemon to drop; it stays out here (ignore.ts).
    expect(theirs.has(".dockerignore")).toBe(true);
    theirs.delete(".dockerignore");
    expect(comparable(ours)).toEqual(comparable(theirs));
  }, 60_000);
});
