import { spawnSync } from "node:child_process";
import { Readable } from "node:stream";
import fc from "fast-check";
import { extract, pack } from "tar-stream";
import { describe, expect, it } from "vitest";
import { archive, data, DOCKERFILE, file, gnuLong, header, hostileArchives, pax } from "../../test/fixtures/tar";
import { ContextTooLargeError, repackContext, type RepackOptions } from "./repack";
import { ContextError } from "./rules";

const LIMITS: RepackOptions = { maxEntries: 1000 };

async function* chunks(bytes: Uint8Array, size = 700): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

async function repack(bytes: Uint8Array, options = LIMITS, chunkSize?: number): Promise<Buffer> {
  const out: Uint8Array[] = [];
  for await (const chunk of repackContext(chunks(bytes, chunkSize), options)) out.push(Uint8Array.from(chunk));
  return Buffer.concat(out);
}

interface Listed {
  name: string;
  type: string;
  mode: number;
  linkname: string | null;
  content: string;
}

/** The archive as tar-stream reads it. */
async function listWithTarStream(tar: Buffer): Promise<Listed[]> {
  const entries: Listed[] = [];
  const reader = extract();
  const done = new Promise<void>((resolve, reject) => {
    reader.on("entry", (entry, stream, next) => {
      const parts: Buffer[] = [];
      stream.on("data", (part: Buffer) => parts.push(part));
      stream.on("end", () => {
        entries.push({ name: entry.name, type: entry.type ?? "file", mode: entry.mode ?? 0, linkname: entry.linkname ?? null, content: Buffer.concat(parts).toString() });
        next();
      });
    });
    reader.on("finish", resolve);
    reader.on("error", reject);
  });
  Readable.from(tar).pipe(reader);
  await done;
  return entries;
}

/** The archive as GNU tar lists it: `type mode name [-> target]` per entry. */
function listWithGnuTar(tar: Buffer): string[] {
  const listed = spawnSync("tar", ["--list", "--verbose", "--numeric-owner", "--file", "-"], { input: tar, encoding: "utf8" });
  if (listed.status !== 0) throw new Error(`tar: ${listed.stderr}`);
  return listed.stdout
    .trim()
    .split("\n")
    .map((line) => {
      const [perms, , , , , ...rest] = line.split(/\s+/);
      return `${perms} ${rest.join(" ")}`;
    });
}

async function tarStreamArchive(entries: { name: string; type?: "file" | "directory" | "symlink" | "link"; content?: string; mode?: number; linkname?: string }[]) {
  const archive = pack();
  for (const { content, ...entry } of entries) archive.entry({ mode: 0o644, ...entry }, content ?? "");
  archive.finalize();
  const parts: Buffer[] = [];
  for await (const part of archive) parts.push(part as Buffer);
  return new Uint8Array(Buffer.concat(parts));
}

describe("repackContext", () => {
  it("writes the checked entries anew: folders, symlinks inside, hard links, modes, long and non-ASCII names", async () => {
    const longName = `deep/${"n".repeat(150)}/file.txt`;
    const source = await tarStreamArchive([
      { name: "./", type: "directory", mode: 0o755 },
      { name: "./Dockerfile", content: DOCKERFILE },
      { name: "src/", type: "directory", mode: 0o750 },
      { name: "src/app.sh", content: "echo hi\n", mode: 0o755 },
      { name: "src/current", type: "symlink", linkname: "app.sh" },
      { name: "src/up", type: "symlink", linkname: "../Dockerfile" },
      { name: "copy.sh", type: "link", linkname: "src/app.sh" },
      { name: longName, content: "long" },
      { name: "données/ß.txt", content: "utf-8" },
    ]);
    const repacked = await repack(source);
    expect(await listWithTarStream(repacked)).toEqual([
      { name: "Dockerfile", type: "file", mode: 0o644, linkname: null, content: DOCKERFILE },
      { name: "src/", type: "directory", mode: 0o750, linkname: null, content: "" },
      { name: "src/app.sh", type: "file", mode: 0o755, linkname: null, content: "echo hi\n" },
      { name: "src/current", type: "symlink", mode: 0o777, linkname: "app.sh", content: "" },
      { name: "src/up", type: "symlink", mode: 0o777, linkname: "../Dockerfile", content: "" },
      { name: "copy.sh", type: "link", mode: 0o755, linkname: "src/app.sh", content: "" },
      { name: longName, type: "file", mode: 0o644, linkname: null, content: "long" },
      { name: "données/ß.txt", type: "file", mode: 0o644, linkname: null, content: "utf-8" },
    ]);
    // GNU tar, which Docker does not use, reads the same archive the same way.
    expect(listWithGnuTar(repacked)).toEqual([
      "-rw-r--r-- Dockerfile",
      "drwxr-x--- src/",
      "-rwxr-xr-x src/app.sh",
      "lrwxrwxrwx src/current -> app.sh",
      "lrwxrwxrwx src/up -> ../Dockerfile",
      "hrwxr-xr-x copy.sh link to src/app.sh",
      `-rw-r--r-- ${longName}`,
      "-rw-r--r-- données/ß.txt",
    ]);
    // Canonical: checking its own output again changes nothing.
    expect((await repack(repacked)).equals(repacked)).toBe(true);
  });

  it("reads GNU long names, agreeing PAX and GNU names, a git archive's global comment, and any chunking", async () => {
    const longName = `g/${"x".repeat(120)}`;
    const source = archive([
      pax({ comment: "3f2a…" }, "g"),
      file("Dockerfile", DOCKERFILE),
      gnuLong(longName),
      file("placeholder", "gnu"),
      gnuLong("agreed/name"),
      pax({ path: "agreed/name" }),
      file("placeholder2", "both"),
    ]);
    for (const chunkSize of [1, 511, 512, 513, 100_000]) {
      const listed = await listWithTarStream(await repack(source, LIMITS, chunkSize));
      expect(listed.map(({ name, content }) => [name, content])).toEqual([
        ["Dockerfile", DOCKERFILE],
        [longName, "gnu"],
        ["agreed/name", "both"],
      ]);
    }
  });

  it("ignores an empty GNU long name or link target, as Go does, keeping the header's own", async () => {
    const source = archive([file("Dockerfile", DOCKERFILE), gnuLong(""), file("real.txt", "kept"), gnuLong("", "K"), header({ name: "link", typeflag: "2", linkname: "real.txt" })]);
    const listed = await listWithTarStream(await repack(source));
    expect(listed.map(({ name, linkname }) => [name, linkname])).toEqual([["Dockerfile", null], ["real.txt", null], ["link", "real.txt"]]);
  });

  it("says a base-256 number with value bits in its first byte is too large, and negative only when its sign is set", async () => {
    const withMtimeByte = (first: number) => {
      const block = header({ name: "Dockerfile", size: 0 });
      block.fill(0, 136, 148);
      block[136] = first;
      block.fill(0x20, 148, 156);
      const sum = block.reduce((total, byte) => total + byte, 0);
      block.set(new TextEncoder().encode(`${sum.toString(8).padStart(6, "0")}\0 `), 148);
      return archive([block]);
    };
    await expect(repack(withMtimeByte(0x81))).rejects.toThrow(/too large/);
    await expect(repack(withMtimeByte(0xff))).rejects.toThrow(/negative base-256/);
  });

  it.each(hostileArchives())("refuses %s", async (_name, bytes) => {
    await expect(repack(bytes)).rejects.toThrow(ContextError);
  });

  it("says what is wrong with the red team's archives", async () => {
    const messages = new Map<string, string>();
    for (const [name, bytes] of hostileArchives()) {
      messages.set(name, await repack(bytes).then(() => "accepted", (error: Error) => error.message));
    }
    expect(messages.get("a hard link whose data is more headers (a FIFO, a device, an unchecked name)")).toMatch(/link entry "carrier" carries 2048 bytes of data/);
    expect(messages.get("a GNU long name that disagrees with the PAX path")).toMatch(/GNU long name "looks\/fine.txt" and the PAX name "other\/name.txt" disagree/);
    expect(messages.get("a symlink chain that climbs out (d/up -> .., esc -> d/up/..)")).toMatch(/symlink "esc" points outside the context/);
    expect(messages.get("the same chain, the escaping link first")).toMatch(/symlink "esc" points outside the context/);
    expect(messages.get("a file written through a symlinked folder")).toMatch(/"sub\/x" is inside "sub", which is a symlink/);
    expect(messages.get("a FIFO")).toMatch(/"pipe" is a fifo/);
    expect(messages.get("a character device")).toMatch(/"null" is a character-device/);
    expect(messages.get("a name given twice")).toMatch(/"twice" appears twice/);
    expect(messages.get("no end-of-archive marker")).toMatch(/cut off/);
  });

  it("accepts symlink chains that stay inside, whatever their order, and refuses loops", async () => {
    const inside = archive([
      file("Dockerfile", DOCKERFILE),
      header({ name: "a/b/up", typeflag: "2", linkname: ".." }),
      header({ name: "a/b/top", typeflag: "2", linkname: "up/../x" }),
      header({ name: "first", typeflag: "2", linkname: "a/b/up/b/up/.." }),
      header({ name: "dangling", typeflag: "2", linkname: "not/there/.." }),
    ]);
    expect((await listWithTarStream(await repack(inside))).map(({ name }) => name)).toEqual(["Dockerfile", "a/b/up", "a/b/top", "first", "dangling"]);
    const loop = archive([
      file("Dockerfile", DOCKERFILE),
      header({ name: "ping", typeflag: "2", linkname: "pong/x" }),
      header({ name: "pong", typeflag: "2", linkname: "ping/x" }),
    ]);
    await expect(repack(loop)).rejects.toThrow(/longer than 40 links/);
  });

  it("refuses a name between slashes over 255 bytes and a path over 3,000, which the Docker Engine cannot unpack or copy", async () => {
    const named = (path: string) => archive([file("Dockerfile", DOCKERFILE), pax({ path }), ...file("placeholder", "x")]);
    const segment = (letter: string, bytes = 255) => letter.repeat(bytes);
    // Engine 20.10 answers /build with HTTP 500 "file name too long" for a 256-byte name (measured).
    await expect(repack(named(segment("a", 256)))).rejects.toThrow(/each name between slashes must be at most 255 bytes/);
    await expect(repack(named(`dir/${segment("é", 128)}`))).rejects.toThrow(/at most 255 bytes/);
    await expect(repack(named(segment("a")))).resolves.toBeDefined();
    const deep = (bytes: number) => Array.from({ length: Math.ceil(bytes / 201) + 1 }, (_, at) => String.fromCharCode(97 + (at % 26)).repeat(200)).join("/").slice(0, bytes);
    expect(deep(3000)).toHaveLength(3000);
    await expect(repack(named(deep(3000)))).resolves.toBeDefined();
    await expect(repack(named(deep(3001)))).rejects.toThrow(/at most 3000 bytes/);
    const link = archive([file("Dockerfile", DOCKERFILE), pax({ linkpath: deep(3001) }), header({ name: "l", typeflag: "2", linkname: "x" })]);
    await expect(repack(link)).rejects.toThrow(/target longer than 3000 bytes/);
  });

  it("refuses an archive past its byte cap as too large, and past its entry cap", async () => {
    const big = archive([file("Dockerfile", DOCKERFILE), file("big", new Uint8Array(10_000))]);
    await expect(repack(big, { maxEntries: 10, maxBytes: 8_000 })).rejects.toThrow(ContextTooLargeError);
    const many = archive([file("Dockerfile", DOCKERFILE), ...Array.from({ length: 10 }, (_, i) => file(`f${i}`, "x"))]);
    await expect(repack(many, { maxEntries: 5 })).rejects.toThrow(/more than 5 entries/);
  });

  it("refuses what is not a tar, and headers readers would read differently", async () => {
    const cases: [Uint8Array, RegExp][] = [
      [new Uint8Array(2048).fill(7), /checksum/],
      [archive([header({ name: "Dockerfile", size: 3, checksum: 1 }), data("abc")]), /checksum/],
      [archive([pax({ path: "a" }), pax({ path: "b" }), file("Dockerfile", DOCKERFILE)]), /two PAX headers/],
      [archive([file("Dockerfile", DOCKERFILE), header({ name: "dir/", typeflag: "0", size: 0 })]), /has a folder's name/],
      [archive([file("Dockerfile", DOCKERFILE), header({ name: "vendor", typeflag: "S" })]), /type 'S'/],
      [archive([file("Dockerfile", DOCKERFILE), new Uint8Array([0x80, 0x81, 0, 0]), new Uint8Array(508)]), /checksum/],
      [archive([file("Dockerfile", DOCKERFILE), header({ name: new Uint8Array([0x66, 0xff]) })]), /not valid UTF-8/],
      [archive([file("Dockerfile", DOCKERFILE), header({ name: "x", size: 1 << 17, typeflag: "x" })]), /more than the 65536 allowed|cut off/],
      [new Uint8Array([...archive([file("Dockerfile", DOCKERFILE)]), ...new Uint8Array(511), 1]), /data after the end-of-archive marker/],
    ];
    for (const [bytes, message] of cases) await expect(repack(bytes)).rejects.toThrow(message);
  });

  it("never outputs an archive that two readers list differently, whatever bytes it is given (property)", async () => {
    const honest = archive([
      file("Dockerfile", DOCKERFILE),
      header({ name: "dir/", typeflag: "5", mode: 0o755 }),
      ...file("dir/a.txt", "alpha".repeat(50)),
      header({ name: "dir/link", typeflag: "2", linkname: "a.txt" }),
      gnuLong(`long/${"l".repeat(110)}`),
      ...file("p", "long content"),
      header({ name: "hard", typeflag: "1", linkname: "dir/a.txt" }),
    ]);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat({ max: honest.length - 1 }), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), async (flips) => {
        const mutated = Uint8Array.from(honest);
        for (const [at, value] of flips) mutated[at] = value;
        let repacked: Buffer;
        try {
          repacked = await repack(mutated);
        } catch (error) {
          if (error instanceof ContextError) return;
          throw error;
        }
        const letter: Record<string, string> = { file: "-", directory: "d", symlink: "l", link: "h" };
        const streamed = (await listWithTarStream(repacked)).map(({ name, type }) => `${letter[type]} ${name}`);
        const gnu = listWithGnuTar(repacked).map((line) => `${line[0]} ${line.slice(line.indexOf(" ") + 1).split(/ (?:->|link to) /)[0]}`);
        expect(gnu).toEqual(streamed);
      }),
      { numRuns: 150 },
    );
  });
});
