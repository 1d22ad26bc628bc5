/**
 * The guard's sequence over time, with the disk's readings scripted (the real
 * disk and Engine are in test/e2e/disk-guard.test.ts): pause when space runs
 * out, resume when it returns, prune at most once per interval while short.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import type { PauseCause } from "../../shared/protocol";
import { DiskGuard } from "./disk-guard";
import { PRUNE_INTERVAL_MS, type DiskReading } from "./disk-policy";

const GIB = 1024 ** 3;

afterEach(() => {
  vi.useRealTimers();
});

function guard(readings: Array<number | Error>, prune: () => Promise<{ removedImages: string[]; reclaimedBytes: number; problems: string[] }>) {
  const said: string[] = [];
  const calls: string[] = [];
  const observed: DiskReading[] = [];
  let next = 0;
  const disk = {
    root: "/var/lib/docker",
    read: async (): Promise<DiskReading> => {
      const reading = readings[Math.min(next++, readings.length - 1)]!;
      if (reading instanceof Error) throw reading;
      return { freeBytes: reading * GIB, totalBytes: 100 * GIB };
    },
  };
  const watcher = new DiskGuard({
    disk,
    thresholds: { pruneBelow: { percent: 15 }, stopBelow: { percent: 5 } },
    pause: (cause: PauseCause, detail: string) => calls.push(`pause ${cause}: ${detail}`),
    resume: () => calls.push("resume"),
    prune: async () => {
      calls.push("prune");
      return prune();
    },
    observe: (reading) => observed.push(reading),
    status: (line) => said.push(line),
    intervalMs: 60_000,
  });
  return { watcher, said, calls, observed };
}

const NOTHING = async () => ({ removedImages: [], reclaimedBytes: 0, problems: [] });

describe("DiskGuard", () => {
  it("pauses below the stop threshold, prunes, and resumes once space is back", async () => {
    const { watcher, calls, said, observed } = guard([50, 4, 4, 20], async () => ({ removedImages: ["dockify-build:x-1"], reclaimedBytes: GIB, problems: [] }));
    await watcher.check();
    expect(calls).toEqual([]);
    await watcher.check();
    expect(calls).toEqual(["pause low-disk: 4.0 GiB free of 100.0 GiB in /var/lib/docker, under 5.0 GiB (DOCKIFY_AGENT_STOP_BELOW=5%)", "prune"]);
    expect(said).toContain("pruned dockify-build:x-1 and unused build cache: 1.0 GiB reclaimed");
    // Still short: no second pause, and no second prune within the interval.
    await watcher.check();
    expect(calls).toHaveLength(2);
    await watcher.check();
    expect(calls.at(-1)).toBe("resume");
    expect(said).toContain("disk space is back: 20.0 GiB free in /var/lib/docker: taking builds again");
    expect(observed.map(({ freeBytes }) => freeBytes / GIB)).toEqual([50, 4, 4, 20]);
  });

  it("prunes again while still short once the interval has passed", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const { watcher, calls } = guard([10], NOTHING);
    await watcher.check();
    await watcher.check();
    expect(calls).toEqual(["prune"]);
    vi.setSystemTime(Date.now() + PRUNE_INTERVAL_MS);
    await watcher.check();
    expect(calls).toEqual(["prune", "prune"]);
  });

  it("says what it could not prune or measure, and goes on", async () => {
    const { watcher, said } = guard([new Error("EIO"), 10], async () => ({ removedImages: [], reclaimedBytes: 0, problems: ["dockify-build:y-1: image is in use"] }));
    await watcher.check();
    expect(said).toEqual(["cannot measure free space in /var/lib/docker: EIO"]);
    await watcher.check();
    expect(said).toContain("could not prune dockify-build:y-1: image is in use");
  });

  it("reports a prune that failed outright", async () => {
    const { watcher, said } = guard([10], () => Promise.reject(new Error("the Engine went away")));
    await watcher.check();
    expect(said.at(-1)).toBe("pruning failed: the Engine went away");
  });

  it("runs one check at a time", async () => {
    let release!: () => void;
    const { watcher, calls } = guard([10], () => new Promise((resolve) => (release = () => resolve({ removedImages: [], reclaimedBytes: 0, problems: [] }))));
    const first = watcher.check();
    const second = watcher.check();
    expect(second).toBe(first);
    await vi.waitFor(() => expect(calls).toEqual(["prune"]));
    release();
    await first;
  });
});
