/**
 * What the containers of a build's RUN steps get on the build host, as the
 * operator set it (DOCKIFY_AGENT_BUILD_NETWORK, _MEMORY, _CPUS), turned into
 * the classic builder's query parameters (Engine API `POST /build`).
 */
import type Docker from "dockerode";
import type { AgentEvent, BuilderName } from "../shared/build-log";

export interface BuildIsolation {
  /** Docker's `networkmode` (`bridge`, `none`, `host` or a network's name); unset: the daemon's default bridge. */
  network: string | undefined;
  /** Memory for each RUN step's container, in bytes; unset: no limit. */
  memoryBytes: number | undefined;
  /** CPUs for each RUN step's container, e.g. 1.5; unset: no limit. */
  cpus: number | undefined;
}

/** Docker's own CFS period for `--cpus`: the quota is the share of this period a container may run. */
export const CPU_PERIOD_US = 100_000;

type IsolationOptions = Pick<Docker.ImageBuildOptions, "networkmode" | "memory" | "memswap" | "cpuperiod" | "cpuquota">;

export function isolationOptions(isolation: BuildIsolation): IsolationOptions {
  const { network, memoryBytes, cpus } = isolation;
  return {
    ...(network && { networkmode: network }),
    // memswap is memory plus swap: equal to memory means no swap, so swap cannot stretch the limit.
    ...(memoryBytes !== undefined && { memory: memoryBytes, memswap: memoryBytes }),
    ...(cpus !== undefined && { cpuperiod: CPU_PERIOD_US, cpuquota: Math.round(cpus * CPU_PERIOD_US) }),
  };
}

/**
 * The event that opens every job's log, so that a user whose RUN step was killed can see why. It says what the
 * builder enforces: the configuration refuses limits a builder would ignore (BuildKit's), so none is claimed here.
 */
export function limitsEvent(isolation: BuildIsolation, timeLimitSeconds: number, builder?: BuilderName): Extract<AgentEvent, { type: "limits" }> {
  const { network, memoryBytes, cpus } = isolation;
  return {
    type: "limits",
    network: network ?? null,
    memoryBytes: memoryBytes ?? null,
    cpus: cpus ?? null,
    timeLimitSeconds,
    ...(builder && { builder }),
  };
}
