/**
 * What checking and re-packing a context costs in CPU, the Worker's code
 * alone (no R2, no runtime around it), run in Node on the same modules:
 *
 *   npx tsx bench/repack-cpu.ts [GiB=2]
 *
 * A context of GiB of data in 64 KiB chunks goes through the check and
 * re-pack (shared/context/repack.ts) into the part writer's 8 MiB buffers
 * (worker/context/part-writer.ts, against a bucket that drops each part), once
 * as a plain tar and once gzip-compressed (worker/context/decompress.ts). The
 * bytes are made before the clock starts; a pass that only reads them is the
 * baseline subtracted. Workers bill CPU time, not waiting: this is the figure
 * to hold against the platform's CPU limit per request (wrangler.toml says
 * which limit the Worker asks for, and README why).
 */
import { randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { repackContext } from "../shared/context/repack";
import { encodeHeader, END_OF_ARCHIVE, padding } from "../shared/tar/header";
import { decompressed } from "../worker/context/decompress";
import { R2PartWriter, type PartSink } from "../worker/context/part-writer";

const GIB = 1024 ** 3;
const CHUNK = 64 * 1024;
const gib = Number(process.argv[2] ?? 2);

/** An R2 bucket that takes multipart uploads and keeps nothing: only the Worker's own work is measured. */
const discardingBucket: PartSink = {
  async put() {
    return null;
  },
  async createMultipartUpload(key: string) {
    return {
      key,
      uploadId: "bench",
      async uploadPart(partNumber: number) {
        return { partNumber, etag: "bench" };
      },
      async complete() {
        return null;
      },
      async abort() {},
    };
  },
};

/** A tar of one Dockerfile and files of 256 MiB, served as 64 KiB chunks of one random block (made once). */
function* tarChunks(bytes: number): Generator<Uint8Array> {
  const block = randomBytes(CHUNK);
  const dockerfile = new TextEncoder().encode("FROM scratch\nCOPY . /\n");
  yield encodeHeader({ name: "Dockerfile", type: "file", mode: 0o644, size: dockerfile.length, mtime: 0 });
  yield dockerfile;
  yield new Uint8Array(padding(dockerfile.length));
  const fileBytes = 256 * 1024 * 1024;
  for (let index = 0, left = bytes; left > 0; index++, left -= fileBytes) {
    const size = Math.min(fileBytes, left);
    yield encodeHeader({ name: `data/${index}.bin`, type: "file", mode: 0o644, size, mtime: 0 });
    for (let at = 0; at < size; at += CHUNK) yield block.subarray(0, Math.min(CHUNK, size - at));
  }
  yield END_OF_ARCHIVE;
}

async function* asAsync(chunks: Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield* chunks;
}

/** CPU milliseconds (user + system) of `work`, and its wall time. */
async function measure(work: () => Promise<number>): Promise<{ cpuMs: number; wallMs: number; bytes: number }> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const bytes = await work();
  const used = process.cpuUsage(cpu);
  return { cpuMs: (used.user + used.system) / 1000, wallMs: performance.now() - started, bytes };
}

async function readOnly(source: AsyncIterable<Uint8Array>): Promise<number> {
  let bytes = 0;
  for await (const chunk of source) bytes += chunk.length;
  return bytes;
}

async function checkAndStore(source: AsyncIterable<Uint8Array>): Promise<number> {
  const writer = new R2PartWriter(discardingBucket, "bench", async () => undefined);
  for await (const chunk of repackContext(decompressed(source), { maxEntries: 10_000 })) await writer.write(chunk);
  return writer.finish();
}

const bytes = Math.round(gib * GIB);
const chunks = [...tarChunks(bytes)];
console.log(`compressing ${gib} GiB for the gzip pass (not measured)…`);
// Gzip of a repeated random block compresses little less than random data would, which is the point: real work.
const gzipped = gzipSync(Buffer.concat(chunks), { level: 1 });
const gzipChunks = Array.from({ length: Math.ceil(gzipped.length / CHUNK) }, (_, index) => gzipped.subarray(index * CHUNK, (index + 1) * CHUNK));

const baseline = await measure(() => readOnly(asAsync(chunks)));
const plain = await measure(() => checkAndStore(asAsync(chunks)));
const gzipBaseline = await measure(() => readOnly(asAsync(gzipChunks)));
const gzip = await measure(() => checkAndStore(asAsync(gzipChunks)));

const perGb = (ms: number, of: number) => ((ms / 1000) * 1e9) / of;
const plainCpu = plain.cpuMs - baseline.cpuMs;
const gzipCpu = gzip.cpuMs - gzipBaseline.cpuMs;
console.log(
  [
    `check + re-pack + part buffers, ${gib} GiB (${(bytes / 1e9).toFixed(2)} GB), Node ${process.version}:`,
    `  plain tar: ${(plainCpu / 1000).toFixed(2)} s CPU, ${perGb(plainCpu, bytes).toFixed(2)} s per GB (${((bytes / 1e6) / (plain.wallMs / 1000)).toFixed(0)} MB/s)`,
    `  gzip tar (${(gzipped.length / 1e9).toFixed(2)} GB compressed): ${(gzipCpu / 1000).toFixed(2)} s CPU, ${perGb(gzipCpu, bytes).toFixed(2)} s per GB of tar (${((bytes / 1e6) / (gzip.wallMs / 1000)).toFixed(0)} MB/s)`,
  ].join("\n"),
);
