/**
 * Drives the Worker with autocannon (a real HTTP load generator: keep-alive
 * connections, each sending its next request as soon as the last is
 * answered, latencies in an HDR histogram), in this process. Shared by the
 * throughput and capacity figures.
 */
import autocannon from "autocannon";
import { contextTar } from "../harness/job-server";
import type { Stack } from "../harness/stack";

/** A small context: a two-line Dockerfile and one file (3 KiB as a tar). */
export function smallContext(): Promise<Buffer> {
  return contextTar({ Dockerfile: "FROM scratch\nCOPY app.txt /app.txt\n", "app.txt": "bench\n" });
}

export interface LoadResult {
  requests: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Answers other than 2xx, by status. */
  refused: Record<string, number>;
  /** Connection errors and timeouts. */
  errors: number;
  durationS: number;
}

function summary(result: autocannon.Result): LoadResult {
  const refused: Record<string, number> = {};
  for (const [status, { count = 0 }] of Object.entries(result.statusCodeStats ?? {})) {
    if (!status.startsWith("2") && count > 0) refused[status] = count;
  }
  const requests = result["1xx"] + result["2xx"] + result["3xx"] + result["4xx"] + result["5xx"];
  return {
    requests,
    perSecond: requests / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    refused,
    errors: result.errors,
    durationS: result.duration,
  };
}

export interface LoadOptions {
  connections: number;
  /** Seconds to run; or `amount` requests in all. */
  durationS?: number;
  amount?: number;
}

/** autocannon takes a key set to undefined as a value: set only what is given. */
function shape({ connections, durationS, amount }: LoadOptions): Pick<autocannon.Options, "connections" | "duration" | "amount"> {
  return { connections, ...(amount === undefined ? { duration: durationS } : { amount }) };
}

/** `POST /v1/builds` of the same small context over and over, as the stack's tenant. */
export async function postBuilds(stack: Stack, tar: Buffer, options: LoadOptions): Promise<LoadResult> {
  return summary(
    await autocannon({
      url: `${stack.worker.url}/v1/builds?user_name=bench&repo=load&registry=${encodeURIComponent(stack.registry.host)}`,
      method: "POST",
      headers: { authorization: `Bearer ${stack.secrets.apiToken}`, "content-type": "application/x-tar" },
      body: tar,
      ...shape(options),
    }),
  );
}

/** `GET path` over and over, as the stack's tenant. */
export async function getPath(stack: Stack, path: string, options: LoadOptions): Promise<LoadResult> {
  return summary(
    await autocannon({
      url: `${stack.worker.url}${path}`,
      headers: { authorization: `Bearer ${stack.secrets.apiToken}` },
      ...shape(options),
    }),
  );
}
