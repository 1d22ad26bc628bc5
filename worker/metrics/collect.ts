/**
 * /metrics: every pool's figures (counters.ts, `Pool.metrics()`) as
 * Prometheus families, each sample labelled with its pool. The list of
 * metrics here is the one README documents.
 */
import { JOB_STATES } from "../../shared/job";
import { COUNTERS, HISTOGRAMS, type PoolMetrics } from "../pool/counters";
import type { Family, MetricLabels, MetricType, Sample } from "./exposition";

type PoolFigures = { pool: string; metrics: PoolMetrics };

function family(name: string, type: MetricType, help: string, samples: Sample[]): Family {
  return { name, type, help, samples };
}

function gauge(name: string, help: string, pools: PoolFigures[], value: (metrics: PoolMetrics) => number): Family {
  return family(name, "gauge", help, pools.map(({ pool, metrics }) => ({ name, labels: { pool }, value: value(metrics) })));
}

function counterValue(metrics: PoolMetrics, name: string, labels: MetricLabels): number {
  const row = metrics.counters.find((counter) => counter.name === name && JSON.stringify(counter.labels) === JSON.stringify(labels));
  return row?.value ?? 0;
}

/** A counter with the label values it always shows (0 until counted), and any others that were counted. */
function counter(name: string, help: string, pools: PoolFigures[], label?: { name: string; values: readonly string[] }): Family {
  const samples = pools.flatMap(({ pool, metrics }) => {
    if (!label) return [{ name, labels: { pool }, value: counterValue(metrics, name, {}) }];
    const counted = metrics.counters.filter((row) => row.name === name).map((row) => row.labels[label.name]!);
    const values = [...new Set([...label.values, ...counted])];
    return values.map((value) => ({ name, labels: { pool, [label.name]: value }, value: counterValue(metrics, name, { [label.name]: value }) }));
  });
  return family(name, "counter", help, samples);
}

function histogram(spec: (typeof HISTOGRAMS)[keyof typeof HISTOGRAMS], help: string, pools: PoolFigures[]): Family {
  const samples = pools.flatMap(({ pool, metrics }) => [
    ...[...spec.buckets.map(String), "+Inf"].map((le) => ({
      name: `${spec.name}_bucket`,
      labels: { pool, le },
      value: counterValue(metrics, `${spec.name}_bucket`, { le }),
    })),
    { name: `${spec.name}_sum`, labels: { pool }, value: counterValue(metrics, `${spec.name}_sum`, {}) },
    { name: `${spec.name}_count`, labels: { pool }, value: counterValue(metrics, `${spec.name}_count`, {}) },
  ]);
  return family(spec.name, "histogram", help, samples);
}

export function metricFamilies(pools: PoolFigures[]): Family[] {
  const byState = pools.flatMap(({ pool, metrics }) =>
    JOB_STATES.map((state) => ({ name: "dockify_builds", labels: { pool, state }, value: metrics.builds.find((row) => row.state === state)?.count ?? 0 })),
  );
  const agents = pools.flatMap(({ pool, metrics }) =>
    (["ready", "draining", "paused"] as const).map((state) => ({ name: "dockify_agents", labels: { pool, state }, value: metrics.agents[state] })),
  );
  return [
    family("dockify_builds", "gauge", "Builds in each state now; ended builds count while the pool keeps their records", byState),
    counter(COUNTERS.submitted, "Builds accepted into the pool", pools),
    counter(COUNTERS.finished, "Builds that ended, by how they ended", pools, { name: "state", values: ["succeeded", "failed", "canceled"] }),
    gauge("dockify_queue_length", "Builds waiting for an agent", pools, (metrics) => metrics.queued),
    gauge("dockify_queue_oldest_wait_seconds", "How long the oldest waiting build has waited (0 when none waits)", pools, (metrics) => metrics.oldestWaitSeconds),
    family("dockify_agents", "gauge", "Connected agents: ready (taking builds), draining (finishing before they stop) or paused (short of disk, say)", agents),
    gauge("dockify_agent_slots", "Builds the connected agents run at once, in all", pools, (metrics) => metrics.slots),
    gauge("dockify_agent_slots_free", "Slots of ready agents that no build uses", pools, (metrics) => metrics.freeSlots),
    histogram(HISTOGRAMS.duration, "From a build's first assignment to its end, for builds that started", pools),
    histogram(HISTOGRAMS.timeToStart, "From a build's submission to its first assignment", pools),
    counter(COUNTERS.leaseExpiries, "Leases that ran out: the agent stopped responding", pools),
    counter(COUNTERS.agentRefusals, "Assignments an agent refused or gave back", pools),
    counter(COUNTERS.submissionRefusals, "Submissions the pool refused, by reason", pools, { name: "reason", values: ["tenant_limit"] }),
    counter(COUNTERS.webhookAttemptsFailed, "Webhook attempts that got no 2xx answer", pools),
    counter(COUNTERS.webhookDeliveries, "Webhook deliveries that ended, by outcome", pools, { name: "outcome", values: ["delivered", "failed"] }),
    gauge("dockify_webhook_deliveries_pending", "Webhook deliveries still to be (re)tried", pools, (metrics) => metrics.webhooksPending),
  ];
}
