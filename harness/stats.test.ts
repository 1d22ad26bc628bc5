import { describe, expect, it } from "vitest";
import { median, percentile, summarize } from "./stats";

describe("percentile (nearest rank)", () => {
  const hundred = Array.from({ length: 100 }, (_, index) => index + 1);

  it("is a measured value: the ceil(p/100 × n)-th smallest", () => {
    expect(percentile(hundred, 50)).toBe(50);
    expect(percentile(hundred, 99)).toBe(99);
    expect(percentile(hundred, 100)).toBe(100);
    expect(percentile([10, 20, 30], 50)).toBe(20);
    expect(percentile([10, 20, 30], 99)).toBe(30);
  });

  it("stays inside the samples at the ends", () => {
    expect(percentile(hundred, 0)).toBe(1);
    expect(percentile([7], 99)).toBe(7);
  });

  it("refuses no samples rather than answering undefined", () => {
    expect(() => percentile([], 50)).toThrow(/no values/);
  });
});

describe("median", () => {
  it("takes values in any order, and averages the two middle ones of an even count", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow(/no values/);
  });

  it("does not reorder its input", () => {
    const values = [3, 1, 2];
    median(values);
    expect(values).toEqual([3, 1, 2]);
  });
});

describe("summarize", () => {
  it("gives count, range, median and p50/p99 of unsorted values", () => {
    expect(summarize([5, 1, 4, 2, 3])).toEqual({ count: 5, min: 1, p50: 3, p99: 5, max: 5, median: 3 });
  });
});
