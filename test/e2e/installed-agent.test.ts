/**
 * The agent as an operator installs it: `npm pack` of this repository,
 * `npm install` of the tarball in an empty folder, and its `dockify-agent`
 * command, with its settings in a --config file and its token in a file. Its
 * doctor passes on this host and fails with a clear line when DOCKER_HOST
 * points nowhere; it builds and pushes a real image; its metrics, parsed as
 * Prometheus parses them, move with the build; the pool lists its version;
 * and when the Worker's minimum version passes it, it is refused with the reason,
 * says so, and waits.
 */
import { execFile } from "node:child_process";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AGENT_VERSION } from "../../agent/config";
import type { AgentProcess } from "../../harness/agent";
import { ok } from "../../harness/api";
import { baseEnv } from "../../harness/managed-process";
import { scrape } from "../../harness/metrics";
import { packAndInstall, type InstalledPackage } from "../../harness/package";
import { registryDigest } from "../../harness/registry-image";
import { tempDir } from "../../harness/run-dir";
import { startStack, type Stack } from "../../harness/stack";

const run = promisify(execFile);
const NAME = "installed-agent";

let stack: Stack;
let installed: InstalledPackage;
let configFile: string;
let agent: AgentProcess | undefined;
let metricsUrl: string;

beforeAll(async () => {
  // The Worker takes agents from this very version up: the installed agent is at the minimum, and accepted.
  [stack, installed] = await Promise.all([startStack({ agents: 0, vars: { DOCKIFY_MIN_AGENT_VERSION: AGENT_VERSION } }), packAndInstall()]);
  const dir = tempDir("agent-config");
  const tokenFile = join(dir, "agent-token");
  writeFileSync(tokenFile, `${stack.secrets.agentToken}\n`);
  chmodSync(tokenFile, 0o600);
  configFile = join(dir, "agent.env");
  writeFileSync(
    configFile,
    [
      "# as README's example: settings here, the token in its own file",
      `DOCKIFY_URL=${stack.worker.url}`,
      `DOCKIFY_AGENT_TOKEN_FILE=${tokenFile}`,
      `DOCKIFY_AGENT_NAME=${NAME}`,
      "DOCKIFY_AGENT_METRICS_ADDR=127.0.0.1:0",
      "",
    ].join("\n"),
  );
});

afterAll(async () => {
  await agent?.stop();
  await stack?.stop();
});

/** Runs the installed command to its end, outside the repository, with none of our variables but `env`. */
async function dockifyAgent(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(installed.bin("dockify-agent"), args, { cwd: installed.dir, env: { ...baseEnv(), ...env }, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

function lines(text: string): string[] {
  return text.trim().split("\n");
}

describe("the installed dockify-agent", () => {
  it("prints its version and its help", async () => {
    expect(await dockifyAgent(["--version"])).toEqual({ code: 0, stdout: `${AGENT_VERSION}\n`, stderr: "" });
    const start = await dockifyAgent(["start", "--help"]);
    expect(start.stdout).toContain("--config <file>");
    expect((await dockifyAgent(["doctor", "--help"])).stdout).toContain("check this host");
  });

  it("passes its doctor here, with its settings from a file and its token from a file", async () => {
    const doctor = await dockifyAgent(["doctor", "--config", configFile]);
    expect(doctor.code, doctor.stdout + doctor.stderr).toBe(0);
    const output = lines(doctor.stdout);
    expect(output[0]).toBe(`ok   config: settings are valid (from ${configFile} and the environment)`);
    expect(output).toContainEqual(expect.stringMatching(/^ok   engine: Docker Engine \S+ answers at the default socket \/var\/run\/docker\.sock \(API 1\.\d+, linux\/\w+\)$/));
    expect(output).toContainEqual(expect.stringMatching(/^ok   builder: the agent will build with BuildKit \(Engine \S+ \(API 1\.\d+\) has BuildKit\); POST \/session opens a session$/));
    expect(output).toContain(
      `ok   worker: the Worker at ${stack.worker.url} accepts this agent (pool 'default'; it takes agents from version ${AGENT_VERSION}, this is ${AGENT_VERSION})`,
    );
    // Whether this machine is above the prune threshold is its own business; it is above the stop threshold, or nothing here builds.
    expect(output).toContainEqual(expect.stringMatching(/^(ok  |warn) disk: [\d.]+ \w+ free of [\d.]+ \w+ in \//));
    expect(output).toContainEqual(expect.stringMatching(/^(ok  |warn) limits: /));
    expect(output.at(-1)).toBe("this host can take builds");
  });

  it("fails its doctor with a clear line when DOCKER_HOST points nowhere", async () => {
    const doctor = await dockifyAgent(["doctor", "--config", configFile], { DOCKER_HOST: "unix:///nonexistent/docker.sock" });
    expect(doctor.code).toBe(1);
    const output = lines(doctor.stdout);
    expect(output).toContain(
      "FAIL engine: no Docker Engine answers at DOCKER_HOST=unix:///nonexistent/docker.sock: connect ENOENT /nonexistent/docker.sock; " +
        "fix: start the Docker Engine (systemctl start docker), or point DOCKER_HOST at it (unix:///path/docker.sock, tcp://host:2376)",
    );
    for (const check of ["builder", "disk", "limits"]) expect(output).toContain(`skip ${check}: not checked: the Docker Engine does not answer`);
    expect(output.at(-1)).toBe("1 check(s) failed: this host cannot take builds yet");
  });

  it("fails its doctor naming the fix when the Worker refuses the token, without connecting to the pool", async () => {
    const wrong = join(tempDir("wrong-token"), "agent-token");
    writeFileSync(wrong, "not-the-agent-token\n", { mode: 0o600 });
    // The environment's token file wins over the config file's.
    const doctor = await dockifyAgent(["doctor", "--config", configFile], { DOCKIFY_AGENT_TOKEN_FILE: wrong });
    expect(doctor.code).toBe(1);
    expect(lines(doctor.stdout)).toContainEqual(
      expect.stringMatching(/^FAIL worker: the Worker refused this agent \(HTTP 401\): missing or invalid agent token.*; fix: check DOCKIFY_AGENT_TOKEN/),
    );
    expect(ok(await stack.api.agents()).agents).toEqual([]);
  });

  it("builds and pushes a real image, shows its version in the pool, and its metrics move with the build", async () => {
    agent = stack.startAgent({ name: NAME, command: [installed.bin("dockify-agent"), "start", "--config", configFile] });
    const listening = await agent.waitForLine(/metrics on http:\/\/127\.0\.0\.1:\d+\/metrics/);
    metricsUrl = /(http:\/\/127\.0\.0\.1:\d+)/.exec(listening)![1]!;
    await agent.waitForLine(/registered as agent/);

    expect(ok(await stack.api.agents())).toEqual({
      pool: "default",
      agents: [
        {
          name: NAME,
          version: AGENT_VERSION,
          labels: {},
          slots: 1,
          running: 0,
          builds: [],
          state: "ready",
          paused_reason: null,
          // What its hello said of its Engine: this machine's platform, and the builder it chose.
          platform: expect.stringMatching(/^linux\/[a-z0-9_]+/),
          builder: expect.stringMatching(/^(buildkit|classic)$/),
          connected_at: expect.any(String),
          last_heartbeat_at: expect.any(String),
        },
      ],
    });
    const health = await fetch(`${metricsUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok", pool: "connected", engine: "ok", paused: false });

    const before = await scrape(`${metricsUrl}/metrics`);
    expect(before.value("dockify_agent_connected")).toBe(1);
    expect(before.value("dockify_agent_info", { name: NAME, version: AGENT_VERSION })).toBe(1);
    expect(before.value("dockify_agent_slots")).toBe(1);
    expect(before.value("dockify_agent_builds_total", { outcome: "succeeded" })).toBe(0);
    expect(before.histogram("dockify_agent_build_duration_seconds").count).toBe(0);
    expect(before.value("dockify_agent_context_bytes_total")).toBe(0);
    expect(before.value("dockify_agent_disk_free_bytes")).toBeGreaterThan(0);
    expect(before.value("dockify_agent_build_cache_bytes")).toBeGreaterThanOrEqual(0);

    const { task_id: id } = ok(
      await stack.api.submitSeedBuild({
        query: { user_name: stack.secrets.registryUser, repo: "installed", tag: "v1", registry: stack.registry.host },
        fields: { password: stack.secrets.registryPassword },
        dockerfile: `FROM ${stack.baseImage}\nCOPY hello.txt /hello.txt\nRUN cat /hello.txt\n`,
        files: [{ name: "hello.txt", content: "built by the installed agent\n" }],
      }),
    );
    const final = await stack.api.waitForStatus(id);
    expect(final).toMatchObject({ status: "success" });
    const auth = { username: stack.secrets.registryUser, password: stack.secrets.registryPassword };
    expect(await registryDigest(stack.registry.host, auth, `${stack.secrets.registryUser}/installed`, "v1")).toBe((final as { digest: string }).digest);
    expect(await stack.api.log(id)).toContain(`assigned to agent ${NAME}`);

    const after = await scrape(`${metricsUrl}/metrics`);
    expect(after.value("dockify_agent_builds_total", { outcome: "succeeded" })).toBe(1);
    expect(after.value("dockify_agent_builds_total", { outcome: "failed" })).toBe(0);
    const durations = after.histogram("dockify_agent_build_duration_seconds");
    expect(durations.count).toBe(1);
    expect(durations.sum).toBeGreaterThan(0);
    expect(durations.buckets["+Inf"]).toBe(1);
    // The context: a tar of the Dockerfile and hello.txt, at least a header and a block each.
    expect(after.value("dockify_agent_context_bytes_total")).toBeGreaterThanOrEqual(4 * 512);
    expect(after.value("dockify_agent_slots_busy")).toBe(0);
    expect(after.value("dockify_agent_reconnects_total")).toBe(0);
  });

  it("is refused with the reason once the Worker's minimum passes its version, says so, waits the longest delay, and its health says why", async () => {
    expect(agent, "the previous test starts the agent").toBeDefined();
    const from = agent!.outputLength();
    await stack.worker.restart({ vars: { DOCKIFY_MIN_AGENT_VERSION: "99.0.0" } });
    const reason = `agent version "${AGENT_VERSION}" is older than 99.0.0, this Worker's minimum: upgrade the agent`;
    const refused = await agent!.waitForLine("refused this agent's version", { from, timeoutMs: 60_000 });
    expect(refused).toContain(`disconnected from the pool (the pool refused this agent's version: ${reason}); reconnecting in 10.0s`);
    expect(agent!.running).toBe(true);

    const health = await fetch(`${metricsUrl}/healthz`);
    expect(health.status).toBe(503);
    expect(await health.json()).toEqual({ status: "unhealthy", reason: "not connected to the pool", pool: "disconnected", engine: "ok", paused: false });
    expect((await scrape(`${metricsUrl}/metrics`)).value("dockify_agent_connected")).toBe(0);
    expect(ok(await stack.api.agents()).agents).toEqual([]);

    const { task_id: id } = ok(
      await stack.api.submitSeedBuild({
        query: { user_name: stack.secrets.registryUser, repo: "installed", tag: "v2", registry: stack.registry.host },
        dockerfile: `FROM ${stack.baseImage}\n`,
      }),
    );
    expect((await stack.api.status(id)).body).toEqual({ status: "processing", waiting: "no build agent is connected to pool 'default'" });

    const doctor = await dockifyAgent(["doctor", "--config", configFile]);
    expect(doctor.code).toBe(1);
    expect(lines(doctor.stdout)).toContain(`FAIL worker: the Worker refused this agent (HTTP 426): ${reason}; fix: upgrade the agent (npm install -g with the newer package), then restart it`);
  });
});
