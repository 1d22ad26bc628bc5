/**
 * The doctor's checks of the Docker Engine this agent builds with: that it
 * answers, the builder the agent will use on it (BuildKit's session opens),
 * the free disk where it keeps its data, and that the kernel enforces the
 * limits set for RUN steps.
 */
import { randomUUID } from "node:crypto";
import type Docker from "dockerode";
import { z } from "zod";
import { formatApproxByteSize, formatByteSize } from "../../shared/byte-size";
import type { BuilderName } from "../../shared/protocol";
import type { BuildIsolation } from "../build-isolation";
import { ConfigError, type AgentConfig } from "../config";
import { chooseBuilder, inspectEngine, MIN_BUILDKIT_API, type EngineInfo } from "../engine";
import { describeError } from "../errors";
import { decide, formatThreshold, thresholdBytes, type DiskThresholds } from "../host/disk-policy";
import { engineDisk } from "../host/engine-disk";
import type { CheckResult } from "./check";
import type { CgroupControllers } from "./kernel";

/** A doctor that waits longer than this for the Engine calls it unresponsive: the agent would not fare better. */
const ENGINE_TIMEOUT_MS = 10_000;
/** The cgroup controllers the agent's RUN-step limits need: memory for DOCKIFY_AGENT_BUILD_MEMORY, cpu for _CPUS. */
const LIMIT_CONTROLLERS = ["memory", "cpu"];

/** What the Engine says its kernel enforces for containers (`docker info`). */
const engineLimits = z.object({
  MemoryLimit: z.boolean().optional(),
  SwapLimit: z.boolean().optional(),
  CpuCfsQuota: z.boolean().optional(),
  CgroupVersion: z.string().optional(),
});
export type EngineLimits = z.infer<typeof engineLimits>;

/** @types/dockerode leaves out the options dockerode takes. */
type WithSignal = { info(options: { abortSignal: AbortSignal }): Promise<unknown> };

export function dockerHostText(env: NodeJS.ProcessEnv): string {
  return env.DOCKER_HOST ? `DOCKER_HOST=${env.DOCKER_HOST}` : "the default socket /var/run/docker.sock";
}

/** What to do when the Engine does not answer, from the socket error dockerode passes on. */
function engineFix(error: unknown): string {
  const code = z.object({ code: z.string() }).safeParse(error).data?.code;
  switch (code) {
    case "EACCES":
      return "add the agent's user to the docker group (usermod -aG docker USER; it takes effect at its next login or service start)";
    case "ENOENT":
    case "ECONNREFUSED":
      return "start the Docker Engine (systemctl start docker), or point DOCKER_HOST at it (unix:///path/docker.sock, tcp://host:2376)";
    default:
      return "check that the Docker Engine runs and that DOCKER_HOST (and DOCKER_TLS_VERIFY, DOCKER_CERT_PATH) point at it";
  }
}

/** `promise`, or a rejection once `ms` have passed without it settling. */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Asks the Engine what the agent asks it at start (engine.ts): its version and platform. */
export async function checkEngine(docker: Docker, env: NodeJS.ProcessEnv): Promise<{ result: CheckResult; engine?: EngineInfo }> {
  const where = dockerHostText(env);
  try {
    const engine = await within(inspectEngine(docker), ENGINE_TIMEOUT_MS);
    const platform = engine.platform ? `${engine.platform.os}/${engine.platform.architecture}` : "a platform the pool does not know";
    return { result: { name: "engine", state: "ok", message: `Docker Engine ${engine.version} answers at ${where} (API ${engine.apiVersion}, ${platform})` }, engine };
  } catch (error) {
    return { result: { name: "engine", state: "fail", message: `no Docker Engine answers at ${where}: ${describeError(error)}`, fix: engineFix(error) } };
  }
}

/** Opens a BuildKit session the way a build would (an h2c upgrade of POST /session) and closes it at once. */
export function probeSession(docker: Docker, timeoutMs = ENGINE_TIMEOUT_MS): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
    docker.modem.dial(
      {
        path: "/session",
        method: "POST",
        hijack: true,
        headers: {
          Upgrade: "h2c",
          "X-Docker-Expose-Session-Uuid": randomUUID(),
          "X-Docker-Expose-Session-Name": "dockify-agent-doctor",
          "X-Docker-Expose-Session-Sharedkey": "",
        },
        statusCodes: { 101: true, 200: true, 400: "bad request", 404: "no such endpoint", 500: "server error" },
      },
      (error, result) => {
        clearTimeout(timer);
        // With `hijack`, docker-modem answers with the upgraded connection.
        const socket = result && typeof result === "object" && "destroy" in result ? (result as { destroy(): void }) : undefined;
        socket?.destroy();
        if (error) reject(error instanceof Error ? error : new Error(String(error)));
        else if (!socket) reject(new Error("the Engine did not upgrade the connection"));
        else resolve();
      },
    );
  });
}

/**
 * The builder the agent will run, chosen as main.ts chooses it (engine.ts, `chooseBuilder`), and whether it can:
 * for BuildKit, the Engine opens a session (POST /session) as a build would.
 */
export async function checkBuilder(
  docker: Docker,
  engine: EngineInfo,
  config: Pick<AgentConfig, "builder" | "isolation">,
): Promise<{ result: CheckResult; builder?: BuilderName }> {
  let choice: { builder: BuilderName; why: string };
  try {
    choice = chooseBuilder(config.builder, engine, config.isolation);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const problems = error.problems.map((line) => line.trim()).join("; ");
    return { result: { name: "builder", state: "fail", message: `the agent would refuse to start: ${problems}`, fix: "as each problem says" } };
  }
  const { builder, why } = choice;
  if (builder === "buildkit") {
    try {
      await probeSession(docker);
    } catch (error) {
      const message = `the agent would build with BuildKit (${why}), but POST /session did not open a session: ${describeError(error)}`;
      return { result: { name: "builder", state: "fail", message, fix: "look at the Engine's log, or set DOCKIFY_AGENT_BUILDER=classic" }, builder };
    }
    return { result: { name: "builder", state: "ok", message: `the agent will build with BuildKit (${why}); POST /session opens a session` }, builder };
  }
  if (!engine.hasBuildKit) {
    const message = `the agent will build with the classic builder (${why}), which runs every step afresh: no build cache`;
    return { result: { name: "builder", state: "warn", message, fix: `upgrade the Docker Engine to 20.10 or newer (API ${MIN_BUILDKIT_API}) for BuildKit` }, builder };
  }
  return { result: { name: "builder", state: "ok", message: `the agent will build with the classic builder (${why})` }, builder };
}

export async function checkDisk(docker: Docker, thresholds: DiskThresholds): Promise<CheckResult> {
  const disk = await engineDisk(docker);
  if ("unavailable" in disk) {
    return { name: "disk", state: "warn", message: `not measured: ${disk.unavailable}`, fix: "watch the Engine host's free disk there; this agent's disk guard is off" };
  }
  const reading = await disk.read();
  const { pruneBelow, stopBelow } = thresholds;
  const prune = formatApproxByteSize(thresholdBytes(pruneBelow, reading.totalBytes));
  const stop = formatApproxByteSize(thresholdBytes(stopBelow, reading.totalBytes));
  const free = `${formatApproxByteSize(reading.freeBytes)} free of ${formatApproxByteSize(reading.totalBytes)} in ${disk.root}`;
  const limits = `prunes below ${formatThreshold(pruneBelow)} (${prune}), takes no builds below ${formatThreshold(stopBelow)} (${stop})`;
  const decision = decide(reading, thresholds, { paused: false, lastPruneAt: null }, Date.now());
  if (decision.paused) {
    const fix = "free space there (docker image prune, docker builder prune), or lower DOCKIFY_AGENT_STOP_BELOW";
    return { name: "disk", state: "fail", message: `${free}: the agent would take no builds (it ${limits})`, fix };
  }
  if (decision.prune) {
    const fix = "free space there, or lower DOCKIFY_AGENT_PRUNE_BELOW";
    return { name: "disk", state: "warn", message: `${free}: the agent would prune what it left and unused build cache (it ${limits})`, fix };
  }
  return { name: "disk", state: "ok", message: `${free}; the agent ${limits}` };
}

export async function engineLimitsOf(docker: Docker): Promise<EngineLimits> {
  return engineLimits.parse(await (docker as unknown as WithSignal).info({ abortSignal: AbortSignal.timeout(ENGINE_TIMEOUT_MS) }));
}

/**
 * Whether RUN steps will get the memory and CPU limits the operator set: the Engine reports what its kernel enforces
 * (`docker info`), and, when the Engine runs here, the kernel's own list of cgroup controllers says the same. BuildKit
 * applies none (the agent refuses to start with them, see checkBuilder), which is said too.
 */
export function checkLimits(isolation: BuildIsolation, info: EngineLimits, kernel: CgroupControllers | undefined, builder: BuilderName): CheckResult {
  const { memoryBytes, cpus } = isolation;
  const present = kernel && [...kernel.controllers].filter((name) => LIMIT_CONTROLLERS.includes(name));
  const cgroup = kernel ? `cgroup v${kernel.version}, controllers ${present?.join(" and ") || "none of memory, cpu"}` : `cgroup v${info.CgroupVersion ?? "?"}`;
  if (builder === "buildkit") {
    return {
      name: "limits",
      state: "warn",
      message: `BuildKit limits no RUN step's memory or CPU: one build can take all of the host (${cgroup})`,
      fix: "on a host builds share, set DOCKIFY_AGENT_BUILDER=classic with DOCKIFY_AGENT_BUILD_MEMORY and _CPUS",
    };
  }
  const failures: string[] = [];
  const warnings: string[] = [];
  if (memoryBytes !== undefined) {
    if (!info.MemoryLimit || (kernel && !kernel.controllers.has("memory"))) {
      failures.push(`DOCKIFY_AGENT_BUILD_MEMORY=${formatByteSize(memoryBytes)} is not enforced: the kernel has no memory cgroup for the Engine`);
    } else if (!info.SwapLimit) {
      warnings.push("swap is not limited (docker info: SwapLimit false): a RUN step can use as much swap again as its memory");
    }
  }
  if (cpus !== undefined && (!info.CpuCfsQuota || (kernel && !kernel.controllers.has("cpu")))) {
    failures.push(`DOCKIFY_AGENT_BUILD_CPUS=${cpus} is not enforced: the kernel has no CFS quota for the Engine`);
  }
  if (failures.length) {
    const fix = "enable the cgroup controllers (kernel parameters cgroup_enable=memory, or a cgroup v2 host with them delegated to the Engine), or unset the limit";
    return { name: "limits", state: "fail", message: `${failures.join("; ")} (${cgroup})`, fix };
  }
  if (warnings.length) {
    return { name: "limits", state: "warn", message: `${warnings.join("; ")} (${cgroup})`, fix: "enable swap accounting (kernel parameter swapaccount=1)" };
  }
  if (memoryBytes === undefined && cpus === undefined) {
    return {
      name: "limits",
      state: "warn",
      message: `no memory or CPU limit is set for RUN steps: one build can take all of the host (${cgroup})`,
      fix: "set DOCKIFY_AGENT_BUILD_MEMORY and DOCKIFY_AGENT_BUILD_CPUS on a host builds share",
    };
  }
  const set = [memoryBytes !== undefined && `memory ${formatByteSize(memoryBytes)}`, cpus !== undefined && `${cpus} CPU${cpus === 1 ? "" : "s"}`]
    .filter(Boolean)
    .join(", ");
  return { name: "limits", state: "ok", message: `the kernel enforces the limits for RUN steps (${set}; ${cgroup})` };
}
