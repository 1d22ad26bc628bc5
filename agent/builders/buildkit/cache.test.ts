import Docker from "dockerode";
import { describe, expect, it, vi } from "vitest";
import { CacheBound, keepStorage, MIN_CACHE_BYTES } from "./cache";

describe("keepStorage", () => {
  it("writes the bound in bytes as decimal digits, whatever its size", () => {
    expect(keepStorage(10 * 1024 ** 3)).toBe("10737418240");
    expect(keepStorage(2 ** 40)).toBe("1099511627776");
    expect(keepStorage(MIN_CACHE_BYTES)).toBe("268435456");
    expect(keepStorage(Number.MAX_SAFE_INTEGER)).toBe("9007199254740991");
  });

  it("refuses a bound that would empty the cache: 1 << 40 is 256 in JavaScript, 0 means no bound to the Engine", () => {
    expect(1 << 40).toBe(256);
    for (const bytes of [1 << 40, 0, -1, MIN_CACHE_BYTES - 1, 1.5 * 1024 ** 3 + 0.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60]) {
      expect(() => keepStorage(bytes), String(bytes)).toThrow(/refusing to prune the build cache/);
    }
  });
});

describe("CacheBound", () => {
  it("says on the agent's output what the prune it runs again, for builds that ended meanwhile, could not do", async () => {
    const lines: string[] = [];
    // A real client of an Engine that is not there: every prune fails as it would with the daemon down.
    const bound = new CacheBound(new Docker({ socketPath: "/nonexistent/docker.sock" }), MIN_CACHE_BYTES, (line) => lines.push(line));
    const first = bound.enforce();
    const second = bound.enforce();
    // Both callers hear the running prune's failure; the one run again after it has no caller.
    await expect(first).rejects.toThrow(/ENOENT/);
    await expect(second).rejects.toThrow(/ENOENT/);
    await vi.waitFor(() => expect(lines).toEqual([expect.stringMatching(/^could not prune the build cache down to 256 MiB: .*ENOENT/)]));
  });
});
