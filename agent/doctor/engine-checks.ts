/**
 * The doctor's checks of the Docker Engine this agent builds with: that it
 * answers, that BuildKit is there, the free disk where it keeps its data, and
 * that the kernel enforces the limits set for RUN steps.
 */
import { randomUUID } from "node:crypto";
import type Docker from "dockerode";
import { z } from "zod";
import { formatApproxByteSize, formatByteSize } from "../../shared/byte-size";
import type { BuilderName } from "../../shared/protocol";
import type { BuildIsolation } from "../build-isolation";
import { describeError } from "../errors";
import { decide, formatThreshold, thresholdBytes, type DiskThresholds } from "../host/disk-policy";
import { engineDisk } from "../host/engine-disk";
import type { CheckResult } from "./check";
import type { CgroupControllers } from "./kernel";

/** A doctor that waits longer than this for the Engine calls it unresponsive: the agent would not fare better. */
const ENGINE_TIMEOUT_MS = 10_000;
/** BuildKit through the Engine's API needs API 1.39 (Engine 18.09) and its `/session` endpoint. */
export const BUILDKIT_MIN_API = "1.39";
/** The cgroup controllers the agent's RUN-step limits need: memory for DOCKIFY_AGENT_BUILD_MEMORY, cpu for _CPUS. */
const LIMIT_CONTROLLERS = ["memory", "cpu"];

export const engineVersion = z.object({
  Version: z.string(),
  ApiVersion: z.string(),
  Os: z.string(),
  Arch: z.string(),
});
export type EngineVersion = z.infer<typeof engineVersion>;

const engineInfo = z.object({
  MemoryLimit: z.boolean().optional(),
  SwapLimit: z.boolean().optional(),
  CpuCfsQuota: z.boolean().optional(),
  CgroupVersion: z.string().optional(),
});
export type EngineInfo = z.infer<typeof engineInfo>;

/** @types/dockerode leaves out the options dockerode takes. */
type WithSignal = {
  version(options: { abortSignal: AbortSignal }): Promise<unknown>;
  info(options: { abortSignal: AbortSignal }): Promise<unknown>;
};

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

export async function checkEngine(docker: Docker, env: NodeJS.ProcessEnv): Promise<{ result: CheckResult; version?: EngineVersion }> {
  const where = dockerHostText(env);
  try {
    const version = engineVersion.parse(await (docker as unknown as WithSignal).version({ abortSignal: AbortSignal.timeout(ENGINE_TIMEOUT_MS) }));
    const message = `Docker Engine ${version.Version} answers at ${where} (API ${version.ApiVersion}, ${version.Os}/${version.Arch})`;
    return { result: { name: "engine", state: "ok", message }, version };
  } catch (error) {
    return { result: { name: "engine", state: "fail", message: `no Docker Engine answers at ${where}: ${describeError(error)}`, fix: engineFix(error) } };
  }
}

/** `1.41` against `1.39`: API versions are major.minor. */
export function apiAtLeast(version: string, minimum: string): boolean {
  const [major = 0, minor = 0] = version.split(".").map(Number);
  const [minMajor = 0, minMinor = 0] = minimum.split(".").map(Number);
  return major > minMajor || (major === minMajor && minor >= minMinor);
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

export async function checkBuildKit(docker: Docker, version: EngineVersion, builder: BuilderName): Promise<CheckResult> {
  const using = `the agent builds with the ${builder === "buildkit" ? "BuildKit" : "classic"} builder`;
  const missing = (why: string): CheckResult => ({
    name: "buildkit",
    state: builder === "buildkit" ? "fail" : "warn",
    message: `BuildKit is not available: ${why}; ${using}`,
    fix: "upgrade the Docker Engine to 18.09 or later (23.0 or later makes BuildKit its default)",
  });
  if (!apiAtLeast(version.ApiVersion, BUILDKIT_MIN_API)) {
    return missing(`the Engine's API ${version.ApiVersion} is older than ${BUILDKIT_MIN_API} (Engine 18.09)`);
  }
  try {
    await probeSession(docker);
  } catch (error) {
    return missing(`POST /session did not open a session: ${describeError(error)}`);
  }
  return { name: "buildkit", state: "ok", message: `BuildKit is available (API ${version.ApiVersion}, /session opens); ${using}` };
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

export async function engineFacts(docker: Docker): Promise<EngineInfo> {
  return engineInfo.parse(await (docker as unknown as WithSignal).info({ abortSignal: AbortSignal.timeout(ENGINE_TIMEOUT_MS) }));
}

/**
 * Whether RUN steps will get the memory and CPU limits the operator set: the Engine reports what its kernel enforces
 * (`docker info`), and, when the Engine runs here, the kernel's own list of cgroup controllers says the same.
 */
export function checkLimits(isolation: BuildIsolation, info: EngineInfo, kernel: CgroupControllers | undefined): CheckResult {
  const { memoryBytes, cpus } = isolation;
  const present = kernel && [...kernel.controllers].filter((name) => LIMIT_CONTROLLERS.includes(name));
  const cgroup = kernel ? `cgroup v${kernel.version}, controllers ${present?.join(" and ") || "none of memory, cpu"}` : `cgroup v${info.CgroupVersion ?? "?"}`;
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
