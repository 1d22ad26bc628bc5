import { describe, expect, it } from "vitest";
import { ConfigError } from "./config";
import { apiAtLeast, chooseBuilder, type EngineInfo } from "./engine";

const MODERN: EngineInfo = { version: "20.10.24", apiVersion: "1.41", platform: { os: "linux", architecture: "amd64" }, hasBuildKit: true };
const OLD: EngineInfo = { version: "19.03.15", apiVersion: "1.40", platform: { os: "linux", architecture: "amd64" }, hasBuildKit: false };
const NO_LIMITS = { network: undefined, memoryBytes: undefined, cpus: undefined };

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("apiAtLeast", () => {
  it("compares API versions part by part, as numbers", () => {
    expect(apiAtLeast("1.41", "1.41")).toBe(true);
    expect(apiAtLeast("1.43", "1.41")).toBe(true);
    expect(apiAtLeast("1.9", "1.41")).toBe(false);
    expect(apiAtLeast("2.0", "1.41")).toBe(true);
    expect(apiAtLeast("garbage", "1.41")).toBe(false);
  });
});

describe("chooseBuilder", () => {
  it("builds with BuildKit where the Engine has it, and with the classic builder where it has not", () => {
    expect(chooseBuilder(undefined, MODERN, NO_LIMITS)).toEqual({ builder: "buildkit", why: "Engine 20.10.24 (API 1.41) has BuildKit" });
    expect(chooseBuilder(undefined, OLD, NO_LIMITS).builder).toBe("classic");
    expect(chooseBuilder("classic", MODERN, { network: "isolated", memoryBytes: 1024 ** 3, cpus: 1 }).builder).toBe("classic");
  });

  it("refuses BuildKit asked of an Engine without it", () => {
    expect(refusal(() => chooseBuilder("buildkit", OLD, NO_LIMITS))).toContain("DOCKIFY_AGENT_BUILDER: buildkit needs a Linux Engine with API 1.41 or newer");
  });

  it("refuses, all at once, limits BuildKit would ignore when the Engine chose it, saying so", () => {
    const message = refusal(() => chooseBuilder(undefined, MODERN, { network: "isolated", memoryBytes: 1024 ** 3, cpus: 2 }));
    for (const variable of ["DOCKIFY_AGENT_BUILD_MEMORY", "DOCKIFY_AGENT_BUILD_CPUS", "DOCKIFY_AGENT_BUILD_NETWORK"]) expect(message).toContain(variable);
    expect(message).toContain("set DOCKIFY_AGENT_BUILDER=classic");
    expect(message).toContain("(the builder is BuildKit because Engine 20.10.24 (API 1.41) has it)");
  });
});
