import { describe, expect, it } from "vitest";
import { MAX_PAUSE_DETAIL_CHARS } from "../../shared/protocol";
import {
  certainlyAbove,
  decide,
  DEFAULT_PRUNE_BELOW,
  DEFAULT_STOP_BELOW,
  parseDiskThreshold,
  pauseDetail,
  PRUNE_INTERVAL_MS,
  thresholdBytes,
  type DiskThresholds,
} from "./disk-policy";

const GIB = 1024 ** 3;
const DISK = 100 * GIB;
const THRESHOLDS: DiskThresholds = { pruneBelow: { percent: 15 }, stopBelow: { percent: 5 } };
const FRESH = { paused: false, lastPruneAt: null };

function free(gib: number) {
  return { freeBytes: gib * GIB, totalBytes: DISK };
}

describe("parseDiskThreshold", () => {
  it("reads a share of the disk or a size", () => {
    expect(parseDiskThreshold("15%")).toEqual({ percent: 15 });
    expect(parseDiskThreshold("2.5%")).toEqual({ percent: 2.5 });
    expect(parseDiskThreshold("10g")).toEqual({ bytes: 10 * GIB });
    expect(parseDiskThreshold("0")).toEqual({ bytes: 0 });
    expect(parseDiskThreshold(DEFAULT_PRUNE_BELOW)).toEqual({ percent: 15 });
    expect(parseDiskThreshold(DEFAULT_STOP_BELOW)).toEqual({ percent: 5 });
  });

  it("refuses anything else, and shares of 100% or more", () => {
    for (const text of ["", "%", "100%", "150%", "-1%", "ten", "1.5g", "5 %", "10gb"]) expect(parseDiskThreshold(text)).toBeUndefined();
  });
});

describe("thresholds", () => {
  it("turn into bytes of the disk", () => {
    expect(thresholdBytes({ percent: 15 }, DISK)).toBe(15 * GIB);
    expect(thresholdBytes({ bytes: 3 }, DISK)).toBe(3);
  });

  it("compare only when they are of one kind", () => {
    expect(certainlyAbove({ percent: 6 }, { percent: 5 })).toBe(true);
    expect(certainlyAbove({ bytes: 1 }, { bytes: 2 })).toBe(false);
    expect(certainlyAbove({ bytes: 10 * GIB }, { percent: 5 })).toBe(false);
  });
});

describe("decide", () => {
  it("does nothing while there is room", () => {
    expect(decide(free(50), THRESHOLDS, FRESH, 0)).toEqual({ prune: false, paused: false });
  });

  it("prunes below the prune threshold, and again only after the interval while still short", () => {
    expect(decide(free(10), THRESHOLDS, FRESH, 0)).toEqual({ prune: true, paused: false });
    const pruned = { paused: false, lastPruneAt: 1_000 };
    expect(decide(free(10), THRESHOLDS, pruned, 1_000 + PRUNE_INTERVAL_MS - 1).prune).toBe(false);
    expect(decide(free(10), THRESHOLDS, pruned, 1_000 + PRUNE_INTERVAL_MS).prune).toBe(true);
  });

  it("pauses below the stop threshold, and prunes too", () => {
    expect(decide(free(4), THRESHOLDS, FRESH, 0)).toEqual({ prune: true, paused: true });
  });

  it("prunes below the stop threshold even when the prune threshold is set lower", () => {
    const odd: DiskThresholds = { pruneBelow: { bytes: 1 }, stopBelow: { percent: 5 } };
    expect(decide(free(4), odd, FRESH, 0)).toEqual({ prune: true, paused: true });
  });

  it("resumes only once space is back 1% of the disk (at most 1 GiB) above the stop threshold", () => {
    const paused = { paused: true, lastPruneAt: 0 };
    expect(decide({ freeBytes: 5 * GIB + 1, totalBytes: DISK }, THRESHOLDS, paused, 1).paused).toBe(true);
    expect(decide({ freeBytes: 6 * GIB - 1, totalBytes: DISK }, THRESHOLDS, paused, 1).paused).toBe(true);
    expect(decide(free(6), THRESHOLDS, paused, 1).paused).toBe(false);
    // On a 10 TiB disk the margin is 1 GiB, not 100 GiB.
    const big = { freeBytes: 512 * GIB + GIB, totalBytes: 10 * 1024 * GIB };
    expect(decide(big, THRESHOLDS, paused, 1).paused).toBe(false);
  });

  it("never pauses or prunes with thresholds of 0", () => {
    const off: DiskThresholds = { pruneBelow: { bytes: 0 }, stopBelow: { bytes: 0 } };
    expect(decide({ freeBytes: 0, totalBytes: DISK }, off, FRESH, 0)).toEqual({ prune: false, paused: false });
  });
});

describe("pauseDetail", () => {
  it("says what was measured and which setting it crossed", () => {
    expect(pauseDetail({ freeBytes: 1.2 * GIB, totalBytes: DISK }, THRESHOLDS, "/var/lib/docker")).toBe(
      "1.2 GiB free of 100.0 GiB in /var/lib/docker, under 5.0 GiB (DOCKIFY_AGENT_STOP_BELOW=5%)",
    );
  });

  it("drops a long data-root path rather than overflow the message", () => {
    const detail = pauseDetail(free(1), THRESHOLDS, `/${"x".repeat(300)}`);
    expect(detail).toBe("1.0 GiB free of 100.0 GiB, under 5.0 GiB (DOCKIFY_AGENT_STOP_BELOW=5%)");
    expect(detail.length).toBeLessThanOrEqual(MAX_PAUSE_DETAIL_CHARS);
  });
});
