import { Readable } from "node:stream";
import { extract } from "tar-stream";
import { describe, expect, it } from "vitest";
import { encodeHeader } from "./header";
import { readTar } from "./reader";
import { packFiles, type FileEntry } from "./writer";

function entry(name: string, content: string | Uint8Array): FileEntry {
  const blob = new Blob([content]);
  return { name, size: blob.size, mode: 0o644, body: () => blob.stream() };
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  return Buffer.concat(parts);
}

async function readBack(archive: Buffer): Promise<{ name: string; mode: number; content: string }[]> {
  const entries: { name: string; mode: number; content: string }[] = [];
  const reader = extract();
  const done = new Promise<void>((resolve, reject) => {
    reader.on("entry", (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        entries.push({ name: header.name, mode: header.mode ?? 0, content: Buffer.concat(chunks).toString() });
        next();
      });
    });
    reader.on("finish", resolve);
    reader.on("error", reject);
  });
  Readable.from(archive).pipe(reader);
  await done;
  return entries;
}

describe("packFiles", () => {
  it("writes an archive that tar-stream reads back", async () => {
    const entries = [entry("Dockerfile", "FROM scratch\n"), entry("src/app.sh", "echo hi\n"), entry("empty", ""), entry("x".repeat(100), "a".repeat(1024))];
    const archive = await collect(packFiles(entries, 1_700_000_000));
    expect(archive.length % 512).toBe(0);
    expect(await readBack(archive)).toEqual([
      { name: "Dockerfile", mode: 0o644, content: "FROM scratch\n" },
      { name: "src/app.sh", mode: 0o644, content: "echo hi\n" },
      { name: "empty", mode: 0o644, content: "" },
      { name: "x".repeat(100), mode: 0o644, content: "a".repeat(1024) },
    ]);
  });

  it("keeps multi-byte names and binary content intact", async () => {
    const bytes = Uint8Array.from({ length: 700 }, (_, i) => i % 256);
    const [read] = await readBack(await collect(packFiles([entry("données/ß.bin", bytes)], 0)));
    expect(read?.name).toBe("données/ß.bin");
  });

  it("errors the archive when a body is shorter than announced", async () => {
    const lying: FileEntry = { ...entry("a", "abc"), size: 10 };
    await expect(collect(packFiles([lying], 0))).rejects.toThrow(/expected 10 bytes, read 3/);
  });
});

describe("encodeHeader", () => {
  it("states a size past octal's 8 GiB in a PAX record, which the reader takes", async () => {
    const size = 9 * 1024 ** 3;
    const header = encodeHeader({ name: "huge", type: "file", mode: 0o644, size, mtime: 0 });
    async function* source() {
      yield header;
    }
    const first = await readTar(source()).next();
    expect(first.value?.entry).toMatchObject({ name: "huge", size, type: "file" });
  });
});
