/**
 * When the agent prunes and when it stops taking builds, from the free space
 * where the Engine keeps its data (DOCKIFY_AGENT_PRUNE_BELOW, _STOP_BELOW).
 * Pure: the watcher (disk-guard.ts) measures and carries out what `decide` says.
 */
import { formatApproxByteSize, formatByteSize, parseByteSize } from "../../shared/byte-size";
import { MAX_PAUSE_DETAIL_CHARS } from "../../shared/protocol";

/** A share of the disk, or an absolute size; `{ bytes: 0 }` never triggers. */
export type DiskThreshold = { percent: number } | { bytes: number };

export interface DiskThresholds {
  /** Below this much free space the agent prunes what it can (prune.ts). */
  pruneBelow: DiskThreshold;
  /** Below this much it takes no new builds until space returns; at most `pruneBelow`. */
  stopBelow: DiskThreshold;
}

/**
 * Defaults after the kubelet's image garbage collection, which starts at 85 % of the disk used: prune below 15 % free.
 * Stop below 5 %: room left for the builds that are still running to finish (a pause does not stop them) and for the
 * Engine's own writes, since a full disk can corrupt its metadata.
 */
export const DEFAULT_PRUNE_BELOW = "15%";
export const DEFAULT_STOP_BELOW = "5%";

/**
 * Pruning again while still short of space: builds keep adding images and cache, but pruning at every poll would
 * only make the Engine walk its cache for nothing.
 */
export const PRUNE_INTERVAL_MS = 5 * 60_000;
/**
 * A paused agent resumes once free space is back above the stop threshold by 1 % of the disk (at most 1 GiB), so a
 * disk hovering at the threshold does not flip the agent between paused and resumed at every poll.
 */
const RESUME_MARGIN_SHARE = 0.01;
const RESUME_MARGIN_MAX_BYTES = 1024 ** 3;

export interface DiskReading {
  freeBytes: number;
  totalBytes: number;
}

export interface DiskGuardState {
  paused: boolean;
  /** When the last prune started (ms), or null. */
  lastPruneAt: number | null;
}

export interface DiskDecision {
  prune: boolean;
  /** Whether the agent should be paused now. */
  paused: boolean;
}

const PERCENT = /^(\d{1,2}(?:\.\d+)?)%$/;

/** `15%` (under 100) or a size as Docker's `-m` writes it (`10g`, `512m`, plain bytes; `0`: never). */
export function parseDiskThreshold(text: string): DiskThreshold | undefined {
  const percent = PERCENT.exec(text);
  if (percent) return { percent: Number(percent[1]) };
  const bytes = parseByteSize(text);
  return bytes === undefined ? undefined : { bytes };
}

export function thresholdBytes(threshold: DiskThreshold, totalBytes: number): number {
  return "bytes" in threshold ? threshold.bytes : Math.floor((totalBytes * threshold.percent) / 100);
}

export function formatThreshold(threshold: DiskThreshold): string {
  if ("percent" in threshold) return `${threshold.percent}%`;
  return threshold.bytes === 0 ? "0" : formatByteSize(threshold.bytes);
}

/** Whether one threshold is certainly above the other, whatever the disk's size (only when both are the same kind). */
export function certainlyAbove(a: DiskThreshold, b: DiskThreshold): boolean {
  if ("percent" in a && "percent" in b) return a.percent > b.percent;
  if ("bytes" in a && "bytes" in b) return a.bytes > b.bytes;
  return false;
}

/** What to do after one reading: prune (at most once per PRUNE_INTERVAL_MS while short), and whether to be paused. */
export function decide(reading: DiskReading, thresholds: DiskThresholds, state: DiskGuardState, now: number): DiskDecision {
  const stop = thresholdBytes(thresholds.stopBelow, reading.totalBytes);
  // Pruning is the way out of a pause, so below the stop threshold the agent prunes too, whatever the other says.
  const prune = Math.max(stop, thresholdBytes(thresholds.pruneBelow, reading.totalBytes));
  const margin = Math.min(RESUME_MARGIN_MAX_BYTES, Math.floor(reading.totalBytes * RESUME_MARGIN_SHARE));
  const paused = reading.freeBytes < (state.paused ? stop + margin : stop);
  const due = state.lastPruneAt === null || now - state.lastPruneAt >= PRUNE_INTERVAL_MS;
  return { prune: reading.freeBytes < prune && due, paused };
}

/** Why the agent is paused, as the pool shows it after `low disk on <agent>`: what was measured and which setting it crossed. */
export function pauseDetail(reading: DiskReading, thresholds: DiskThresholds, root: string): string {
  const stop = thresholdBytes(thresholds.stopBelow, reading.totalBytes);
  const setting = `DOCKIFY_AGENT_STOP_BELOW=${formatThreshold(thresholds.stopBelow)}`;
  const measured = `${formatApproxByteSize(reading.freeBytes)} free of ${formatApproxByteSize(reading.totalBytes)}`;
  const detail = `${measured} in ${root}, under ${formatApproxByteSize(stop)} (${setting})`;
  // A long data-root path is the one part that can be cut without losing what to do.
  return detail.length <= MAX_PAUSE_DETAIL_CHARS ? detail : `${measured}, under ${formatApproxByteSize(stop)} (${setting})`;
}
