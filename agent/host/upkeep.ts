/**
 * The agent's care of its host, started once beside the pool client: the disk
 * guard (always, when the Engine's disk can be measured from here), and the
 * metrics and health listener with the build cache's size (when
 * DOCKIFY_AGENT_METRICS_ADDR asks for it).
 */
import type Docker from "dockerode";
import { describeError } from "../errors";
import type { AgentConfig } from "../config";
import type { PoolClient } from "../pool-client";
import { formatThreshold } from "./disk-policy";
import { DiskGuard } from "./disk-guard";
import { engineDisk } from "./engine-disk";
import type { AgentMetrics } from "./metrics";
import { startMetricsServer } from "./metrics-server";
import { buildCacheBytes, pruneBuildCache, pruneBuildImages, type PruneReport } from "./prune";

/** `docker system df` walks every image and cache record: cheap on a small host, seconds on a big one. A gauge can wait a minute. */
export const CACHE_SIZE_POLL_MS = 60_000;

export interface UpkeepOptions {
  config: Pick<AgentConfig, "disk" | "metrics" | "buildTimeoutSeconds">;
  docker: Docker;
  client: Pick<PoolClient, "pause" | "resume" | "paused">;
  metrics: AgentMetrics;
  status: (line: string) => void;
}

export interface Upkeep {
  stop(): Promise<void>;
}

/** @types/dockerode leaves out the options dockerode's ping takes. */
type Pingable = { ping(options: { abortSignal: AbortSignal }): Promise<unknown> };

export async function startUpkeep({ config, docker, client, metrics, status }: UpkeepOptions): Promise<Upkeep> {
  const stops: Array<() => Promise<void>> = [];
  const refreshCacheSize = () =>
    buildCacheBytes(docker).then(
      (bytes) => metrics.cacheBytes(bytes),
      (error: unknown) => status(`cannot measure the build cache: ${describeError(error)}`),
    );

  const prune = async (): Promise<PruneReport> => {
    const report = await pruneBuildImages(docker, config.buildTimeoutSeconds, Date.now());
    report.reclaimedBytes += await pruneBuildCache(docker);
    metrics.pruned(report.reclaimedBytes);
    if (config.metrics) await refreshCacheSize();
    return report;
  };

  const disk = await engineDisk(docker);
  if ("unavailable" in disk) {
    status(`not watching free disk space: ${disk.unavailable}`);
  } else {
    const guard = new DiskGuard({
      disk,
      thresholds: config.disk,
      pause: (cause, detail) => client.pause(cause, detail),
      resume: () => client.resume(),
      prune,
      observe: (reading) => metrics.disk(reading),
      status,
    });
    const { pruneBelow, stopBelow } = config.disk;
    status(`watching free space in ${disk.root}: pruning below ${formatThreshold(pruneBelow)}, no new builds below ${formatThreshold(stopBelow)}`);
    await guard.start();
    stops.push(() => guard.stop());
  }

  if (config.metrics) {
    const server = await startMetricsServer({
      address: config.metrics,
      metrics,
      pingEngine: (signal) => (docker as unknown as Pingable).ping({ abortSignal: signal }),
      paused: () => client.paused,
    }).catch((error: unknown) => Promise.reject(new Error(`cannot listen on DOCKIFY_AGENT_METRICS_ADDR: ${describeError(error)}`)));
    status(`metrics on ${server.url}/metrics, health on ${server.url}/healthz`);
    await refreshCacheSize();
    const timer = setInterval(() => void refreshCacheSize(), CACHE_SIZE_POLL_MS);
    stops.push(async () => {
      clearInterval(timer);
      await server.close();
    });
  }

  return { stop: async () => void (await Promise.all(stops.map((stop) => stop()))) };
}
