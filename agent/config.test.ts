import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { MAX_CONCURRENCY } from "../shared/protocol";
import { AGENT_VERSION, ConfigError, loadConfig } from "./config";
import { AllowedFrontends } from "./images/frontends";

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
      frontends: AllowedFrontends.NONE,
      disk: { pruneBelow: { percent: 15 }, stopBelow: { percent: 5 } },
      metrics: undefined,
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
  it("allows no # syntax frontend by default, and only frontends pinned by digest", () => {
    const digest = `sha256:${"a".repeat(64)}`;
    expect(loadConfig(REQUIRED).frontends.references).toEqual([]);
    const { frontends } = loadConfig({ ...REQUIRED, DOCKIFY_AGENT_FRONTENDS: ` 127.0.0.1:5000/tools/frontend@${digest}, docker/dockerfile:1.4@${digest},` });
    expect(frontends.references).toEqual([`127.0.0.1:5000/tools/frontend@${digest}`, `docker/dockerfile:1.4@${digest}`]);
    const message = problems({ ...REQUIRED, DOCKIFY_AGENT_FRONTENDS: `docker/dockerfile:1,Bad Name@${digest},alice/f@sha256:abc` });
    expect(message).toContain('DOCKIFY_AGENT_FRONTENDS: "docker/dockerfile:1" is not pinned by digest: write it as name@sha256:<64 hex digits>');
    expect(message).toContain('DOCKIFY_AGENT_FRONTENDS: "Bad Name@');
    expect(message).toContain('DOCKIFY_AGENT_FRONTENDS: "alice/f@sha256:abc" has an invalid digest');
  });

  it("reads the disk thresholds and the metrics address", () => {
    const config = loadConfig({
      ...REQUIRED,
      DOCKIFY_AGENT_PRUNE_BELOW: "20g",
      DOCKIFY_AGENT_STOP_BELOW: "2.5%",
      DOCKIFY_AGENT_METRICS_ADDR: "9464",
    });
    expect(config.disk).toEqual({ pruneBelow: { bytes: 20 * 1024 ** 3 }, stopBelow: { percent: 2.5 } });
    expect(config.metrics).toEqual({ host: "127.0.0.1", port: 9464, loopback: true });
  });

  it("refuses thresholds that are not a share or a size, and a stop threshold above the prune threshold", () => {
    expect(problems({ ...REQUIRED, DOCKIFY_AGENT_PRUNE_BELOW: "lots" })).toContain("DOCKIFY_AGENT_PRUNE_BELOW: must be a share of the disk such as 15%");
    expect(problems({ ...REQUIRED, DOCKIFY_AGENT_STOP_BELOW: "100%" })).toContain("DOCKIFY_AGENT_STOP_BELOW: must be a share");
    expect(problems({ ...REQUIRED, DOCKIFY_AGENT_STOP_BELOW: "20%" })).toContain(
      "DOCKIFY_AGENT_STOP_BELOW: must not be above DOCKIFY_AGENT_PRUNE_BELOW (15%): the agent prunes before it stops taking builds",
    );
    // Of two kinds, they compare only against the disk, which the agent measures as it runs.
    expect(loadConfig({ ...REQUIRED, DOCKIFY_AGENT_STOP_BELOW: "1000g" }).disk.stopBelow).toEqual({ bytes: 1000 * 1024 ** 3 });
  });

  it("refuses a metrics address other hosts can reach unless DOCKIFY_AGENT_METRICS_ALLOW_REMOTE=true says so", () => {
    expect(problems({ ...REQUIRED, DOCKIFY_AGENT_METRICS_ADDR: "0.0.0.0:9464" })).toContain(
      "DOCKIFY_AGENT_METRICS_ADDR: is not a loopback address: the listener has no authentication",
    );
    const allowed = loadConfig({ ...REQUIRED, DOCKIFY_AGENT_METRICS_ADDR: "0.0.0.0:9464", DOCKIFY_AGENT_METRICS_ALLOW_REMOTE: "true" });
    expect(allowed.metrics).toEqual({ host: "0.0.0.0", port: 9464, loopback: false });
    expect(problems({ ...REQUIRED, DOCKIFY_AGENT_METRICS_ADDR: "metrics:9464" })).toContain("DOCKIFY_AGENT_METRICS_ADDR: \"metrics\" is not an IP address");
  });

  it("reports every problem at once, checks across settings included", () => {
    const message = problems({ DOCKIFY_AGENT_STOP_BELOW: "50%", DOCKIFY_AGENT_METRICS_ADDR: "0.0.0.0:1", DOCKIFY_AGENT_CONCURRENCY: "0" });
    for (const variable of ["DOCKIFY_URL", "DOCKIFY_AGENT_TOKEN:", "DOCKIFY_AGENT_STOP_BELOW", "DOCKIFY_AGENT_METRICS_ADDR", "DOCKIFY_AGENT_CONCURRENCY"]) {
      expect(message).toContain(variable);
    }
  });
});

describe("loadConfig with DOCKIFY_AGENT_TOKEN_FILE", () => {
  const dir = mkdtempSync(join(tmpdir(), "dockify-token-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function tokenFile(name: string, content: string, mode: number): string {
    const path = join(dir, name);
    writeFileSync(path, content);
    chmodSync(path, mode);
    return path;
  }

  const URL_ONLY = { DOCKIFY_URL: REQUIRED.DOCKIFY_URL };

  it("reads the token from the file, without its line break", () => {
    const path = tokenFile("token", "s3cret-token\n", 0o600);
    const warnings: string[] = [];
    expect(loadConfig({ ...URL_ONLY, DOCKIFY_AGENT_TOKEN_FILE: path }, (line) => warnings.push(line)).token).toBe("s3cret-token");
    expect(warnings).toEqual([]);
  });

  it("refuses both a token and a token file, and neither", () => {
    const path = tokenFile("both", "s3cret-token", 0o600);
    expect(problems({ ...REQUIRED, DOCKIFY_AGENT_TOKEN_FILE: path })).toContain("DOCKIFY_AGENT_TOKEN: set it or DOCKIFY_AGENT_TOKEN_FILE, not both");
    expect(problems(URL_ONLY)).toContain("DOCKIFY_AGENT_TOKEN: is required (or DOCKIFY_AGENT_TOKEN_FILE, a file holding it)");
  });

  it("refuses a file every user can read, and takes one its group can read with a warning", () => {
    const open = tokenFile("open", "s3cret-token", 0o644);
    expect(problems({ ...URL_ONLY, DOCKIFY_AGENT_TOKEN_FILE: open })).toContain(
      `DOCKIFY_AGENT_TOKEN_FILE: ${open} is readable by every user of this host (mode 644): chmod 600 it`,
    );
    const shared = tokenFile("shared", "s3cret-token", 0o640);
    const warnings: string[] = [];
    expect(loadConfig({ ...URL_ONLY, DOCKIFY_AGENT_TOKEN_FILE: shared }, (line) => warnings.push(line)).token).toBe("s3cret-token");
    expect(warnings).toEqual([`DOCKIFY_AGENT_TOKEN_FILE: ${shared} is readable by its group (mode 640): make sure only the agent's user is in that group`]);
  });

  it("refuses a missing, empty or many-line file, and never shows the token", () => {
    expect(problems({ ...URL_ONLY, DOCKIFY_AGENT_TOKEN_FILE: join(dir, "missing") })).toContain(`cannot read ${join(dir, "missing")}: ENOENT`);
    expect(problems({ ...URL_ONLY, DOCKIFY_AGENT_TOKEN_FILE: tokenFile("empty", "\n", 0o600) })).toContain("is empty: put the agent token in it");
    const twoLines = problems({ ...URL_ONLY, DOCKIFY_AGENT_TOKEN_FILE: tokenFile("two", "s3cret-token\nother\n", 0o600) });
    expect(twoLines).toContain("must hold the token alone, on one line");
    expect(twoLines).not.toContain("s3cret-token");
  });
});
