import { describe, expect, it } from "vitest";
import { keepStorage, MIN_CACHE_BYTES } from "./cache";

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
