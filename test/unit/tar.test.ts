import { extract } from "tar-stream";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { tarLength, tarStream, type TarEntry } from "../../worker/context/tar-writer";

function entry(name: string, content: string | Uint8Array): TarEntry {
  const blob = new Blob([content]);
  return { name, size: blob.size, mode: 0o644, body: () => blob.stream() };
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<Buffer> {
  return Buffer.from(await new Response(stream).arrayBuffer());
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

describe("tar writer", () => {
  it("writes an archive that tar-stream reads back, of exactly the announced length", async () => {
    const entries = [entry("Dockerfile", "FROM scratch\n"), entry("src/app.sh", "echo hi\n"), entry("empty", ""), entry("x".repeat(100), "a".repeat(1024))];
    const archive = await collect(tarStream(entries, 1_700_000_000));
    expect(archive.length).toBe(tarLength(entries));
    expect(await readBack(archive)).toEqual([
      { name: "Dockerfile", mode: 0o644, content: "FROM scratch\n" },
      { name: "src/app.sh", mode: 0o644, content: "echo hi\n" },
      { name: "empty", mode: 0o644, content: "" },
      { name: "x".repeat(100), mode: 0o644, content: "a".repeat(1024) },
    ]);
  });

  it("keeps multi-byte names and binary content intact", async () => {
    const bytes = Uint8Array.from({ length: 700 }, (_, i) => i % 256);
    const archive = await collect(tarStream([entry("données/ß.bin", bytes)], 0));
    const [read] = await readBack(archive);
    expect(read?.name).toBe("données/ß.bin");
  });

  it("errors the stream when a body is shorter than announced", async () => {
    const lying: TarEntry = { ...entry("a", "abc"), size: 10 };
    await expect(collect(tarStream([lying], 0))).rejects.toThrow(/expected 10 bytes, read 3/);
  });
});
