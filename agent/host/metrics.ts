/**
 * The agent's Prometheus metrics (prom-client), served by metrics-server.ts.
 * It hears the pool client's events (connected, each build's end), the job
 * runner's context downloads and the disk guard's readings; slots and pause
 * are read at scrape time. Names are `dockify_agent_*`, plus prom-client's
 * standard `process_*` and `nodejs_*`.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { RunEnd } from "../job-runner";
import type { PoolClientEvents } from "../pool-client";
import type { DiskReading } from "./disk-policy";

/**
 * Build durations from a cached rebuild (under a second) to the default time limit of an hour: the buckets Prometheus
 * needs to tell a slowing fleet from a busy one.
 */
const DURATION_BUCKETS = [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600];
/** How a build ends on an agent: reported with its outcome, or given back to the pool when the Engine failed. */
const OUTCOMES: ReadonlyArray<RunEnd["status"]> = ["succeeded", "failed", "canceled", "given-back"];

export interface AgentMetricsOptions {
  name: string;
  version: string;
  concurrency: number;
  /** Jobs running now. */
  running: () => number;
  paused: () => boolean;
}

export class AgentMetrics implements PoolClientEvents {
  readonly registry = new Registry();
  #registered = false;
  #registrations = 0;
  readonly #connected: Gauge;
  readonly #reconnects: Counter;
  readonly #builds: Counter<"outcome">;
  readonly #durations: Histogram;
  readonly #contextBytes: Counter;
  readonly #cacheBytes: Gauge;
  readonly #diskFree: Gauge;
  readonly #diskTotal: Gauge;
  readonly #prunedBytes: Counter;

  constructor(options: AgentMetricsOptions) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    new Gauge({ name: "dockify_agent_info", help: "Always 1; the agent's name and version as labels.", labelNames: ["name", "version"], registers }).set(
      { name: options.name, version: options.version },
      1,
    );
    this.#connected = new Gauge({ name: "dockify_agent_connected", help: "1 while the agent is registered with its pool, else 0.", registers });
    this.#connected.set(0);
    this.#reconnects = new Counter({ name: "dockify_agent_reconnects_total", help: "Registrations with the pool after the first one.", registers });
    new Gauge({ name: "dockify_agent_slots", help: "Builds the agent runs at once (DOCKIFY_AGENT_CONCURRENCY).", registers }).set(options.concurrency);
    new Gauge({
      name: "dockify_agent_slots_busy",
      help: "Builds running now.",
      registers,
      collect() {
        this.set(options.running());
      },
    });
    new Gauge({
      name: "dockify_agent_paused",
      help: "1 while the agent takes no new builds for lack of disk space (DOCKIFY_AGENT_STOP_BELOW), else 0.",
      registers,
      collect() {
        this.set(options.paused() ? 1 : 0);
      },
    });
    this.#builds = new Counter({ name: "dockify_agent_builds_total", help: "Builds that ended on this agent, by outcome (given-back: the Engine failed and the pool runs it again).", labelNames: ["outcome"], registers });
    // One histogram for every build that ended, whatever its outcome (builds_total splits those): the host's time.
    this.#durations = new Histogram({
      name: "dockify_agent_build_duration_seconds",
      help: "Builds that ended on this agent, by how long they took from assignment to result (context, build, push).",
      buckets: DURATION_BUCKETS,
      registers,
    });
    // Every outcome is there from the start, at 0, so a rate over it exists before the first failure.
    for (const outcome of OUTCOMES) this.#builds.inc({ outcome }, 0);
    this.#contextBytes = new Counter({ name: "dockify_agent_context_bytes_total", help: "Bytes of build contexts downloaded from the Worker.", registers });
    this.#cacheBytes = new Gauge({ name: "dockify_agent_build_cache_bytes", help: "Size of the Engine's build cache, as docker system df counts it.", registers });
    this.#diskFree = new Gauge({ name: "dockify_agent_disk_free_bytes", help: "Free space where the Engine keeps its data (DockerRootDir).", registers });
    this.#diskTotal = new Gauge({ name: "dockify_agent_disk_size_bytes", help: "Size of the file system where the Engine keeps its data.", registers });
    this.#prunedBytes = new Counter({ name: "dockify_agent_pruned_bytes_total", help: "Bytes the agent reclaimed by pruning on low disk.", registers });
  }

  /** Whether the agent is registered with its pool now. */
  get connected(): boolean {
    return this.#registered;
  }

  registered(): void {
    this.#registered = true;
    this.#connected.set(1);
    if (this.#registrations++ > 0) this.#reconnects.inc();
  }

  disconnected(): void {
    this.#registered = false;
    this.#connected.set(0);
  }

  jobFinished(end: RunEnd, durationMs: number): void {
    this.#builds.inc({ outcome: end.status });
    this.#durations.observe(durationMs / 1000);
  }

  contextBytes(bytes: number): void {
    this.#contextBytes.inc(bytes);
  }

  disk(reading: DiskReading): void {
    this.#diskFree.set(reading.freeBytes);
    this.#diskTotal.set(reading.totalBytes);
  }

  cacheBytes(bytes: number): void {
    this.#cacheBytes.set(bytes);
  }

  pruned(bytes: number): void {
    this.#prunedBytes.inc(bytes);
  }
}
