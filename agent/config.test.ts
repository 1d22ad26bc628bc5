import { hostname } from "node:os";
import { describe, expect, it } from "vitest";
import { MAX_CONCURRENCY } from "../shared/protocol";
import { AGENT_VERSION, ConfigError, loadConfig } from "./config";

const REQUIRED = { DOCKIFY_URL: "http://127.0.0.1:8787", DOCKIFY_AGENT_TOKEN: "t0ken" };

function problems(env: NodeJS.ProcessEnv): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error("expected a ConfigError");
}

describe("loadConfig", () => {
  it("applies the defaults", () => {
    expect(loadConfig(REQUIRED)).toEqual({
      workerUrl: "http://127.0.0.1:8787",
      connectUrl: "ws://127.0.0.1:8787/agent/connect",
      token: "t0ken",
      name: hostname(),
      version: AGENT_VERSION,
      concurrency: 1,
      labels: {},
      drainMs: 600_000,
      isolation: { network: undefined, memoryBytes: undefined, cpus: undefined },
      buildTimeoutSeconds: 3600,
      builder: undefined,
      cacheBytes: 10 * 1024 ** 3,
    });
    expect(AGENT_VERSION).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("reads every setting", () => {
    const config = loadConfig({
      DOCKIFY_URL: "https://dockify.example.com/",
      DOCKIFY_AGENT_TOKEN: "t0ken",
      DOCKIFY_AGENT_NAME: "builder-1",
      DOCKIFY_AGENT_CONCURRENCY: "4",
      DOCKIFY_AGENT_LABELS: "arch=amd64, gpu=none",
      DOCKIFY_AGENT_DRAIN_SECONDS: "30",
      DOCKIFY_AGENT_BUILD_NETWORK: "host",
      DOCKIFY_AGENT_ALLOW_HOST_NETWORK: "true",
      DOCKIFY_AGENT_BUILD_MEMORY: "2g",
      DOCKIFY_AGENT_BUILD_CPUS: "1.5",
      DOCKIFY_AGENT_BUILD_TIMEOUT_SECONDS: "900",
      DOCKIFY_AGENT_BUILDER: "classic",
      DOCKIFY_AGENT_CACHE_BYTES: "20g",
    });
    expect(config).toMatchObject({
      workerUrl: "https://dockify.example.com",
      connectUrl: "wss://dockify.example.com/agent/connect",
      name: "builder-1",
      concurrency: 4,
      labels: { arch: "amd64", gpu: "none" },
      drainMs: 30_000,
      isolation: { network: "host", memoryBytes: 2 * 1024 ** 3, cpus: 1.5 },
      buildTimeoutSeconds: 900,
      builder: "classic",
      cacheBytes: 20 * 1024 ** 3,
    });
  });

  it("treats empty variables as unset", () => {
    const config = loadConfig({ ...REQUIRED, DOCKIFY_AGENT_CONCURRENCY: "", DOCKIFY_AGENT_NAME: "", DOCKIFY_AGENT_LABELS: "" });
    expect(config).toMatchObject({ concurrency: 1, name: hostname(), labels: {} });
  });

  it("names each missing required variable", () => {
    const message = problems({});
    expect(message).toContain("DOCKIFY_URL");
    expect(message).toContain("DOCKIFY_AGENT_TOKEN: is required");
  });

  it("refuses a URL that is not http or https", () => {
    expect(problems({ ...REQUIRED, DOCKIFY_URL: "ws://127.0.0.1:8787" })).toContain("DOCKIFY_URL: must be an http:// or https:// URL");
    expect(problems({ ...REQUIRED, DOCKIFY_URL: "not a url" })).toContain("DOCKIFY_URL");
  });

  it(`refuses a concurrency that is not a whole number from 1 to ${MAX_CONCURRENCY}`, () => {
    for (const value of ["0", String(MAX_CONCURRENCY + 1), "1.5", "two"]) {
      expect(problems({ ...REQUIRED, DOCKIFY_AGENT_CONCURRENCY: value })).toContain("DOCKIFY_AGENT_CONCURRENCY");
    }
  });

  it("refuses labels that are not k=v or break the label grammar", () => {
    expect(problems({ ...REQUIRED, DOCKIFY_AGENT_LABELS: "arch" })).toContain('"arch" is not k=v');
    expect(problems({ ...REQUIRED, DOCKIFY_AGENT_LABELS: "=x" })).toContain("is not k=v");
    expect(problems({ ...REQUIRED, DOCKIFY_AGENT_LABELS: "Arch=amd64" })).toContain("DOCKIFY_AGENT_LABELS");
    expect(problems({ ...REQUIRED, DOCKIFY_AGENT_LABELS: "arch=a b" })).toContain("label values");
  });

  it("refuses a build network that is not a name", () => {
    expect(problems({ ...REQUIRED, DOCKIFY_AGENT_BUILD_NETWORK: "host;rm" })).toContain("DOCKIFY_AGENT_BUILD_NETWORK: must be a network mode");
  });

  it("refuses the host network unless DOCKIFY_AGENT_ALLOW_HOST_NETWORK=true says so", () => {
    for (const allow of [undefined, "false"]) {
      const message = problems({ ...REQUIRED, DOCKIFY_AGENT_BUILD_NETWORK: "host", DOCKIFY_AGENT_ALLOW_HOST_NETWORK: allow });
      expect(message).toContain("DOCKIFY_AGENT_BUILD_NETWORK: \"host\" gives RUN steps the build host's own network");
      expect(message).toContain("set DOCKIFY_AGENT_ALLOW_HOST_NETWORK=true");
    }
    expect(loadConfig({ ...REQUIRED, DOCKIFY_AGENT_BUILD_NETWORK: "none", DOCKIFY_AGENT_ALLOW_HOST_NETWORK: "false" }).isolation.network).toBe("none");
  });

  it("reports the host network refusal together with other mistakes", () => {
    const message = problems({ DOCKIFY_AGENT_TOKEN: "t0ken", DOCKIFY_AGENT_BUILD_NETWORK: "host" });
    expect(message).toContain("DOCKIFY_URL");
    expect(message).toContain("DOCKIFY_AGENT_BUILD_NETWORK");
  });

  it("refuses an allow-host-network value that is not true or false", () => {
    expect(problems({ ...REQUIRED, DOCKIFY_AGENT_ALLOW_HOST_NETWORK: "yes" })).toContain('DOCKIFY_AGENT_ALLOW_HOST_NETWORK: must be "true" or "false"');
  });

  it("reads memory sizes as Docker's -m does", () => {
    const memory = (value: string) => loadConfig({ ...REQUIRED, DOCKIFY_AGENT_BUILD_MEMORY: value }).isolation.memoryBytes;
    expect(memory("512m")).toBe(512 * 1024 ** 2);
    expect(memory("2G")).toBe(2 * 1024 ** 3);
    expect(memory("65536k")).toBe(64 * 1024 ** 2);
    expect(memory("6291456")).toBe(6 * 1024 ** 2);
  });

  it("refuses a memory size that is not a size or is below Docker's minimum of 6 MiB", () => {
    for (const value of ["5m", "6291455", "1.5g", "2gb", "-1", "lots", "99999999999g"]) {
      expect(problems({ ...REQUIRED, DOCKIFY_AGENT_BUILD_MEMORY: value })).toContain("DOCKIFY_AGENT_BUILD_MEMORY: must be a size such as 512m");
    }
  });

  it("refuses CPUs that are not a number of at least 0.01", () => {
    expect(loadConfig({ ...REQUIRED, DOCKIFY_AGENT_BUILD_CPUS: "0.01" }).isolation.cpus).toBe(0.01);
    expect(problems({ ...REQUIRED, DOCKIFY_AGENT_BUILD_CPUS: "0" })).toContain("DOCKIFY_AGENT_BUILD_CPUS: must be at least 0.01");
    expect(problems({ ...REQUIRED, DOCKIFY_AGENT_BUILD_CPUS: "two" })).toContain("DOCKIFY_AGENT_BUILD_CPUS: must be a number of CPUs");
  });

  it("refuses a time limit that is not a whole number of seconds a timer can hold", () => {
    for (const value of ["0", "1.5", "soon", "2147484"]) {
      expect(problems({ ...REQUIRED, DOCKIFY_AGENT_BUILD_TIMEOUT_SECONDS: value })).toContain("DOCKIFY_AGENT_BUILD_TIMEOUT_SECONDS");
    }
  });

  it("never puts the token in an error message", () => {
    expect(problems({ DOCKIFY_URL: "nope", DOCKIFY_AGENT_TOKEN: "t0ken" })).not.toContain("t0ken");
  });

  it("refuses a builder that is neither buildkit nor classic", () => {
    expect(problems({ ...REQUIRED, DOCKIFY_AGENT_BUILDER: "kaniko" })).toContain("DOCKIFY_AGENT_BUILDER: must be buildkit or classic");
  });

  it("refuses, all at once and with the fix, limits that BuildKit would not enforce", () => {
    const message = problems({
      ...REQUIRED,
      DOCKIFY_AGENT_BUILDER: "buildkit",
      DOCKIFY_AGENT_BUILD_MEMORY: "1g",
      DOCKIFY_AGENT_BUILD_CPUS: "2",
      DOCKIFY_AGENT_BUILD_NETWORK: "isolated-net",
      DOCKIFY_AGENT_CONCURRENCY: "0",
    });
    expect(message).toContain("DOCKIFY_AGENT_BUILD_MEMORY: BuildKit does not limit a RUN step's memory: unset it, or set DOCKIFY_AGENT_BUILDER=classic");
    expect(message).toContain("DOCKIFY_AGENT_BUILD_CPUS: BuildKit does not limit a RUN step's CPUs");
    expect(message).toContain('DOCKIFY_AGENT_BUILD_NETWORK: BuildKit runs RUN steps only on its default network (the Engine\'s bridge), none or host, not on "isolated-net"');
    expect(message).toContain("DOCKIFY_AGENT_CONCURRENCY");
    for (const network of ["none", "bridge"]) {
      expect(loadConfig({ ...REQUIRED, DOCKIFY_AGENT_BUILDER: "buildkit", DOCKIFY_AGENT_BUILD_NETWORK: network }).isolation.network).toBe(network);
    }
    expect(loadConfig({ ...REQUIRED, DOCKIFY_AGENT_BUILDER: "classic", DOCKIFY_AGENT_BUILD_MEMORY: "1g" }).isolation.memoryBytes).toBe(1024 ** 3);
  });

  it("reads the cache bound as a size, and refuses one so small it would empty the cache", () => {
    expect(loadConfig({ ...REQUIRED, DOCKIFY_AGENT_CACHE_BYTES: "512m" }).cacheBytes).toBe(512 * 1024 ** 2);
    expect(loadConfig({ ...REQUIRED, DOCKIFY_AGENT_CACHE_BYTES: String(2 ** 40) }).cacheBytes).toBe(2 ** 40);
    for (const value of ["0", "256", "1m", "255m", "lots", "-1g"]) {
      expect(problems({ ...REQUIRED, DOCKIFY_AGENT_CACHE_BYTES: value })).toContain("DOCKIFY_AGENT_CACHE_BYTES: must be a size such as 10g");
    }
  });
});
