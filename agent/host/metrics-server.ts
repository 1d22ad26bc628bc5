/**
 * The agent's local HTTP listener (DOCKIFY_AGENT_METRICS_ADDR): `GET /metrics`
 * in Prometheus' text format, and `GET /healthz`, 200 while the agent is
 * registered with its pool and its Docker Engine answers, else 503, each with
 * a JSON body saying so. Nothing else; no authentication, hence loopback by
 * default (host/settings.ts).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { describeError } from "../errors";
import { formatListenAddress, type ListenAddress } from "./listen-address";
import type { AgentMetrics } from "./metrics";

export interface Health {
  status: "ok" | "unhealthy";
  /** What is wrong, when unhealthy. */
  reason?: string;
  pool: "connected" | "disconnected";
  engine: "ok" | "unreachable";
  /** Whether the agent takes new builds; an agent paused for low disk is still healthy. */
  paused: boolean;
}

export interface MetricsServerOptions {
  address: ListenAddress;
  metrics: AgentMetrics;
  /** Asks the Engine (`GET /_ping`) with this signal; rejects when it does not answer. */
  pingEngine: (signal: AbortSignal) => Promise<unknown>;
  paused: () => boolean;
}

export interface MetricsServer {
  /** `http://host:port`, the port the system chose for port 0. */
  url: string;
  close(): Promise<void>;
}

/** A health check that waits longer than this for the Engine calls it unhealthy: a wedged Engine is not a healthy host. */
const ENGINE_PING_TIMEOUT_MS = 2_000;

export async function health(options: Pick<MetricsServerOptions, "metrics" | "pingEngine" | "paused">): Promise<Health> {
  const pool = options.metrics.connected ? "connected" : "disconnected";
  let engineProblem: string | undefined;
  try {
    await options.pingEngine(AbortSignal.timeout(ENGINE_PING_TIMEOUT_MS));
  } catch (error) {
    engineProblem = `the Docker Engine does not answer: ${describeError(error)}`;
  }
  const reasons = [...(pool === "connected" ? [] : ["not connected to the pool"]), ...(engineProblem ? [engineProblem] : [])];
  return {
    status: reasons.length ? "unhealthy" : "ok",
    ...(reasons.length ? { reason: reasons.join("; ") } : {}),
    pool,
    engine: engineProblem ? "unreachable" : "ok",
    paused: options.paused(),
  };
}

function json(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { "Content-Type": "application/json" }).end(`${JSON.stringify(body)}\n`);
}

export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const path = new URL(request.url ?? "/", "http://agent").pathname;
    if (request.method !== "GET" && request.method !== "HEAD") return json(response, 405, { error: "only GET" });
    if (path === "/metrics") {
      const text = await options.metrics.registry.metrics();
      return response.writeHead(200, { "Content-Type": options.metrics.registry.contentType }).end(text);
    }
    if (path === "/healthz") {
      const result = await health(options);
      return json(response, result.status === "ok" ? 200 : 503, result);
    }
    return json(response, 404, { error: `no ${path} here: GET /metrics or /healthz` });
  };
  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => json(response, 500, { error: describeError(error) }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.address.port, options.address.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${formatListenAddress({ host: options.address.host, port })}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
