import { describe, expect, it } from "vitest";
import { formatApproxByteSize, formatByteSize, parseByteSize } from "./byte-size";

describe("parseByteSize", () => {
  it("reads k, m and g as binary units, in either case, and plain digits as bytes", () => {
    expect(parseByteSize("16m")).toBe(16 * 1024 ** 2);
    expect(parseByteSize("1K")).toBe(1024);
    expect(parseByteSize("3g")).toBe(3 * 1024 ** 3);
    expect(parseByteSize("1000")).toBe(1000);
  });

  it("refuses anything else, and sizes past a safe integer", () => {
    for (const text of ["", "m", "1.5m", " 1m", "1mb", "1t", "-1", "9007199254740993"]) expect(parseByteSize(text)).toBeUndefined();
  });
});

describe("formatByteSize", () => {
  it("uses the largest unit that divides evenly", () => {
    expect(formatByteSize(2 * 1024 ** 3)).toBe("2 GiB");
    expect(formatByteSize(1536 * 1024 ** 2)).toBe("1536 MiB");
    expect(formatByteSize(1024)).toBe("1 KiB");
    expect(formatByteSize(1000)).toBe("1000 bytes");
  });
});

describe("formatApproxByteSize", () => {
  it("rounds to one decimal in the largest unit the size reaches", () => {
    expect(formatApproxByteSize(83_286_138_880)).toBe("77.6 GiB");
    expect(formatApproxByteSize(3 * 1024 ** 4)).toBe("3.0 TiB");
    expect(formatApproxByteSize(1536)).toBe("1.5 KiB");
    expect(formatApproxByteSize(512)).toBe("512 bytes");
    expect(formatApproxByteSize(0)).toBe("0 bytes");
  });
});
