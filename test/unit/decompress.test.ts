import * as zlib from "node:zlib";
import { gzipSync } from "node:zlib";
import { describe, expect, it, vi } from "vitest";
import { repackContext } from "../../shared/context/repack";
import { decompressed } from "../../worker/context/decompress";

// The real zlib, watched: each inflater the Worker makes is kept to read how much input it took.
const inflaters: zlib.Gunzip[] = [];
vi.mock("node:zlib", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:zlib")>();
  return {
    ...real,
    createGunzip: (options?: zlib.ZlibOptions) => {
      const inflater = real.createGunzip(options);
      inflaters.push(inflater);
      return inflater;
    },
  };
});

describe("decompressed", () => {
  it("stops inflating soon after the check refuses, though the source came as one large chunk", async () => {
    // A bad header block, then about 1,000 MB of zeros as gzip members one after another (gunzip reads them as one
    // stream): refused at the first header, with about 1 MB of gzip in hand.
    const head = new Uint8Array(512).fill(0x41);
    const zeros = gzipSync(new Uint8Array(16 * 1024 * 1024), { level: 9 });
    const bomb = Buffer.concat([gzipSync(head), ...Array.from({ length: 60 }, () => zeros)]);
    expect(bomb.length).toBeGreaterThan(900 * 1024);
    async function* oneChunk() {
      yield bomb;
    }
    const reading = (async () => {
      for await (const _chunk of repackContext(decompressed(oneChunk()), { maxEntries: 10, maxBytes: 1 << 20 })) {
        // refused before any output
      }
    })();
    await expect(reading).rejects.toThrow();
    // Before: zlib was handed the whole megabyte and inflated all of it (1 GB) as it ended.
    expect(inflaters).toHaveLength(1);
    expect(inflaters[0]!.bytesWritten).toBeLessThanOrEqual(64 * 1024);
  });
});
