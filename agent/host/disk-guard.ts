/**
 * Watches free space where the Engine keeps its data, and acts on what
 * disk-policy.ts decides: prunes what the agent made (prune.ts), pauses the
 * agent (the pool gives it nothing new and says why builds wait) and resumes
 * it once space returns.
 */
import { formatApproxByteSize } from "../../shared/byte-size";
import type { PauseCause } from "../../shared/protocol";
import { describeError } from "../errors";
import { decide, pauseDetail, type DiskGuardState, type DiskReading, type DiskThresholds } from "./disk-policy";
import type { EngineDisk } from "./engine-disk";
import type { PruneReport } from "./prune";

/**
 * statfs is one system call, so looking often costs nothing; what the interval bounds is how much a build can write
 * between two looks (a layer written at a few hundred MB/s is a few GB in 10 s), which the stop threshold's room covers.
 */
export const DISK_POLL_MS = 10_000;

export interface DiskGuardOptions {
  disk: EngineDisk;
  thresholds: DiskThresholds;
  /** The pool client's pause and resume. */
  pause: (cause: PauseCause, detail: string) => void;
  resume: () => void;
  prune: () => Promise<PruneReport>;
  /** Each reading, for the metrics. */
  observe?: (reading: DiskReading) => void;
  status: (line: string) => void;
  intervalMs?: number;
}

export class DiskGuard {
  readonly #options: DiskGuardOptions;
  readonly #state: DiskGuardState = { paused: false, lastPruneAt: null };
  #timer: NodeJS.Timeout | undefined;
  #checking: Promise<void> | undefined;

  constructor(options: DiskGuardOptions) {
    this.#options = options;
  }

  /** Checks once now (so an agent started on a full disk connects paused), then every interval. */
  async start(): Promise<void> {
    await this.check();
    this.#timer = setInterval(() => void this.check(), this.#options.intervalMs ?? DISK_POLL_MS);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#checking;
  }

  /** One look at the disk; never rejects. A check still running (a slow prune) is not started twice. */
  check(): Promise<void> {
    this.#checking ??= this.#check().finally(() => (this.#checking = undefined));
    return this.#checking;
  }

  async #check(): Promise<void> {
    const { disk, thresholds, status } = this.#options;
    let reading: DiskReading;
    try {
      reading = await disk.read();
    } catch (error) {
      return status(`cannot measure free space in ${disk.root}: ${describeError(error)}`);
    }
    this.#options.observe?.(reading);
    const decision = decide(reading, thresholds, this.#state, Date.now());
    if (decision.paused !== this.#state.paused) {
      this.#state.paused = decision.paused;
      const free = `${formatApproxByteSize(reading.freeBytes)} free in ${disk.root}`;
      if (decision.paused) {
        status(`low disk: ${free}: taking no new builds until space returns (DOCKIFY_AGENT_STOP_BELOW)`);
        this.#options.pause("low-disk", pauseDetail(reading, thresholds, disk.root));
      } else {
        status(`disk space is back: ${free}: taking builds again`);
        this.#options.resume();
      }
    }
    if (decision.prune) await this.#prune(reading);
  }

  async #prune(reading: DiskReading): Promise<void> {
    const { status, disk } = this.#options;
    this.#state.lastPruneAt = Date.now();
    status(`${formatApproxByteSize(reading.freeBytes)} free in ${disk.root}: pruning what this agent left (DOCKIFY_AGENT_PRUNE_BELOW)`);
    try {
      const report = await this.#options.prune();
      const images = report.removedImages.length ? report.removedImages.join(", ") : "no image";
      status(`pruned ${images} and unused build cache: ${formatApproxByteSize(report.reclaimedBytes)} reclaimed`);
      for (const problem of report.problems) status(`could not prune ${problem}`);
    } catch (error) {
      status(`pruning failed: ${describeError(error)}`);
    }
  }
}
