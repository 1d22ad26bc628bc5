/**
 * The pool's counters and histograms for /metrics, kept in SQLite so they
 * survive restarts (a Prometheus counter must never go back). A histogram is
 * counters too: one per bucket (cumulative, as the text format wants), its
 * sum and its count. The Worker adds the `pool` label when it renders them
 * (worker/metrics/).
 */
import type { MetricLabels } from "../metrics/exposition";

/** Every counter and histogram the pool keeps: one name each, with what it counts. */
export const COUNTERS = {
  submitted: "dockify_builds_submitted_total",
  finished: "dockify_builds_finished_total",
  leaseExpiries: "dockify_lease_expiries_total",
  agentRefusals: "dockify_agent_refusals_total",
  submissionRefusals: "dockify_submissions_refused_total",
  webhookAttemptsFailed: "dockify_webhook_attempts_failed_total",
  webhookDeliveries: "dockify_webhook_deliveries_total",
} as const;

/** Histograms, with their upper bounds in seconds. */
export const HISTOGRAMS = {
  /** From the first assignment to the end: how long builds take on agents. */
  duration: { name: "dockify_build_duration_seconds", buckets: [1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600] },
  /** From submission to the first assignment: how long builds wait for an agent. */
  timeToStart: { name: "dockify_build_time_to_start_seconds", buckets: [0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600] },
} as const;

/** One pool's figures for /metrics: its counters, and what holds now. */
export interface PoolMetrics {
  counters: CounterRow[];
  /** Builds in each state now (ended builds too, while their records are kept). */
  builds: { state: string; count: number }[];
  queued: number;
  /** Of the oldest queued build; 0 when none waits. */
  oldestWaitSeconds: number;
  agents: { ready: number; draining: number; paused: number };
  slots: number;
  /** Slots of agents that take builds now and do not use them. */
  freeSlots: number;
  webhooksPending: number;
}

export interface CounterRow {
  name: string;
  labels: MetricLabels;
  value: number;
}

/** Labels as one stable key: sorted, so the same labels are the same row. */
function key(labels: MetricLabels): string {
  return JSON.stringify(Object.fromEntries(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b))));
}

export class Counters {
  constructor(private readonly sql: SqlStorage) {}

  add(name: string, labels: MetricLabels = {}, by = 1): void {
    this.sql.exec(
      `INSERT INTO metric_counters (name, labels, value) VALUES (?, ?, ?)
       ON CONFLICT (name, labels) DO UPDATE SET value = value + excluded.value`,
      name, key(labels), by,
    );
  }

  observe(histogram: (typeof HISTOGRAMS)[keyof typeof HISTOGRAMS], seconds: number): void {
    for (const bound of histogram.buckets) {
      if (seconds <= bound) this.add(`${histogram.name}_bucket`, { le: String(bound) });
    }
    this.add(`${histogram.name}_bucket`, { le: "+Inf" });
    this.add(`${histogram.name}_sum`, {}, seconds);
    this.add(`${histogram.name}_count`);
  }

  all(): CounterRow[] {
    return this.sql
      .exec<{ name: string; labels: string; value: number }>("SELECT name, labels, value FROM metric_counters ORDER BY name, labels")
      .toArray()
      .map((row) => ({ name: row.name, labels: JSON.parse(row.labels) as MetricLabels, value: row.value }));
  }
}
