/**
 * The metrics listener on a real loopback port: /metrics read with a
 * Prometheus text-format parser, /healthz against the real Docker Engine (and
 * an address where none answers).
 */
import Docker from "dockerode";
import { afterEach, describe, expect, it } from "vitest";
import { Metrics } from "../../harness/metrics";
import { AgentMetrics } from "./metrics";
import { startMetricsServer, type MetricsServer } from "./metrics-server";

const servers: MetricsServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

function agentMetrics(state = { running: 0, paused: false }): AgentMetrics {
  return new AgentMetrics({ name: "builder-1", version: "1.2.3", concurrency: 2, running: () => state.running, paused: () => state.paused });
}

async function serve(metrics: AgentMetrics, docker = new Docker(), paused = () => false): Promise<string> {
  const server = await startMetricsServer({
    address: { host: "127.0.0.1", port: 0, loopback: true },
    metrics,
    pingEngine: (signal) => (docker as unknown as { ping(options: { abortSignal: AbortSignal }): Promise<unknown> }).ping({ abortSignal: signal }),
    paused,
  });
  servers.push(server);
  return server.url;
}

describe("the metrics listener", () => {
  it("serves the agent's metrics in Prometheus' text format, and they move as the agent works", async () => {
    const state = { running: 0, paused: false };
    const metrics = agentMetrics(state);
    const url = await serve(metrics);
    const read = async () => {
      const response = await fetch(`${url}/metrics`);
      expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
      return new Metrics(await response.text());
    };

    const first = await read();
    expect(first.value("dockify_agent_info", { name: "builder-1", version: "1.2.3" })).toBe(1);
    expect(first.value("dockify_agent_connected")).toBe(0);
    expect(first.value("dockify_agent_slots")).toBe(2);
    for (const outcome of ["succeeded", "failed", "canceled", "given-back"]) expect(first.value("dockify_agent_builds_total", { outcome })).toBe(0);
    expect(first.family("process_cpu_user_seconds_total")?.type).toBe("COUNTER");

    metrics.registered();
    state.running = 1;
    state.paused = true;
    metrics.contextBytes(1_000);
    metrics.contextBytes(24);
    metrics.jobFinished({ status: "failed", step: "build", error: "boom" }, 2_500);
    metrics.disk({ freeBytes: 10, totalBytes: 100 });
    metrics.cacheBytes(5);
    metrics.pruned(7);
    metrics.disconnected();
    metrics.registered();

    const second = await read();
    expect(second.value("dockify_agent_connected")).toBe(1);
    expect(second.value("dockify_agent_reconnects_total")).toBe(1);
    expect(second.value("dockify_agent_slots_busy")).toBe(1);
    expect(second.value("dockify_agent_paused")).toBe(1);
    expect(second.value("dockify_agent_builds_total", { outcome: "failed" })).toBe(1);
    expect(second.value("dockify_agent_builds_total", { outcome: "succeeded" })).toBe(0);
    expect(second.histogram("dockify_agent_build_duration_seconds")).toMatchObject({ count: 1, sum: 2.5, buckets: { "2.5": 1, "1": 0, "+Inf": 1 } });
    expect(second.value("dockify_agent_context_bytes_total")).toBe(1_024);
    expect(second.value("dockify_agent_disk_free_bytes")).toBe(10);
    expect(second.value("dockify_agent_disk_size_bytes")).toBe(100);
    expect(second.value("dockify_agent_build_cache_bytes")).toBe(5);
    expect(second.value("dockify_agent_pruned_bytes_total")).toBe(7);
  });

  it("answers /healthz 200 only while registered with the pool and the Engine answers, 503 with why otherwise", async () => {
    const metrics = agentMetrics();
    const url = await serve(metrics);
    const before = await fetch(`${url}/healthz`);
    expect(before.status).toBe(503);
    expect(await before.json()).toEqual({ status: "unhealthy", reason: "not connected to the pool", pool: "disconnected", engine: "ok", paused: false });
    metrics.registered();
    const after = await fetch(`${url}/healthz`);
    expect(after.status).toBe(200);
    expect(await after.json()).toEqual({ status: "ok", pool: "connected", engine: "ok", paused: false });
  });

  it("is unhealthy when the Engine does not answer, saying why", async () => {
    const metrics = agentMetrics();
    metrics.registered();
    const url = await serve(metrics, new Docker({ socketPath: "/nonexistent/docker.sock" }));
    const response = await fetch(`${url}/healthz`);
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({
      status: "unhealthy",
      reason: "the Docker Engine does not answer: connect ENOENT /nonexistent/docker.sock",
      pool: "connected",
      engine: "unreachable",
      paused: false,
    });
  });

  it("answers nothing else", async () => {
    const url = await serve(agentMetrics());
    expect((await fetch(`${url}/`)).status).toBe(404);
    expect((await fetch(`${url}/metrics`, { method: "POST" })).status).toBe(405);
  });
});
