/**
 * The Docker Engine the agent builds on, as it says at start (`GET /version`):
 * the platform it builds for, announced to the pool, and whether it has the
 * BuildKit this agent's builder was verified against, which decides the
 * builder unless the operator chose one (DOCKIFY_AGENT_BUILDER).
 */
import type Docker from "dockerode";
import { platformSchema, type BuilderName, type Platform } from "../shared/protocol";
import type { BuildIsolation } from "./build-isolation";
import { buildkitProblems, configError } from "./config";

/**
 * The Engine API the BuildKit builder was verified against (Engine 20.10: BuildKit v0.8, its session, health checks
 * and trace format). Older Engines build with the classic builder.
 */
export const MIN_BUILDKIT_API = "1.41";

export interface EngineInfo {
  version: string;
  apiVersion: string;
  /** Undefined when the Engine names a platform outside the protocol's grammar. */
  platform: Platform | undefined;
  /** BuildKit through the API, as this agent drives it: a Linux Engine of at least MIN_BUILDKIT_API. */
  hasBuildKit: boolean;
}

/** `1.41` ≥ `1.39`, compared as numbers part by part. */
export function apiAtLeast(version: string, minimum: string): boolean {
  const have = version.split(".").map(Number);
  const need = minimum.split(".").map(Number);
  for (let index = 0; index < Math.max(have.length, need.length); index++) {
    const difference = (have[index] ?? 0) - (need[index] ?? 0);
    if (Number.isNaN(difference)) return false;
    if (difference !== 0) return difference > 0;
  }
  return true;
}

export async function inspectEngine(docker: Docker): Promise<EngineInfo> {
  const version = await docker.version();
  const os = String(version.Os ?? "").toLowerCase();
  const platform = platformSchema.safeParse({ os, architecture: String(version.Arch ?? "").toLowerCase() });
  return {
    version: String(version.Version ?? "unknown"),
    apiVersion: String(version.ApiVersion ?? "0"),
    platform: platform.success ? platform.data : undefined,
    hasBuildKit: os === "linux" && apiAtLeast(String(version.ApiVersion ?? "0"), MIN_BUILDKIT_API),
  };
}

/**
 * The builder to run: the operator's, or BuildKit where the Engine has it. Throws a ConfigError naming every problem
 * (BuildKit asked of an Engine without it; limits BuildKit would not enforce) with its fix.
 */
export function chooseBuilder(requested: BuilderName | undefined, engine: EngineInfo, isolation: BuildIsolation): { builder: BuilderName; why: string } {
  const engineName = `Engine ${engine.version} (API ${engine.apiVersion})`;
  if (requested === "classic") return { builder: "classic", why: "DOCKIFY_AGENT_BUILDER=classic" };
  if (requested === "buildkit" && !engine.hasBuildKit) {
    throw configError([
      {
        variable: "DOCKIFY_AGENT_BUILDER",
        message: `buildkit needs a Linux Engine with API ${MIN_BUILDKIT_API} or newer (Docker 20.10); this is ${engineName}: set classic or leave it unset`,
      },
    ]);
  }
  if (!engine.hasBuildKit) return { builder: "classic", why: `${engineName} has no BuildKit this agent can drive` };
  const problems = buildkitProblems(isolation);
  if (problems.length > 0) {
    // The operator did not choose BuildKit, the Engine did: say so beside each problem.
    throw configError(problems.map(({ variable, message }) => ({ variable, message: `${message} (the builder is BuildKit because ${engineName} has it)` })));
  }
  return { builder: "buildkit", why: requested === "buildkit" ? "DOCKIFY_AGENT_BUILDER=buildkit" : `${engineName} has BuildKit` };
}
