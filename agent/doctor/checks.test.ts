/**
 * The doctor's checks: the Engine's against the real Docker Engine (and an
 * address where none answers); the limits check over what `docker info` and
 * the kernel can report. The Worker check runs against a real Worker in
 * test/e2e/installed-agent.test.ts.
 */
import Docker from "dockerode";
import { describe, expect, it } from "vitest";
import { remoteEngine } from "../host/engine-disk";
import { formatCheck, hostCanBuild } from "./check";
import { checkBuilder, checkDisk, checkEngine, checkLimits } from "./engine-checks";
import { cgroupControllers } from "./kernel";

const NO_LIMITS = { network: undefined, memoryBytes: undefined, cpus: undefined };
const GIB = 1024 ** 3;

describe("the Engine checks", () => {
  it("find this machine's Engine, the builder the agent would use on it, and its disk", async () => {
    const docker = new Docker();
    const checked = await checkEngine(docker, {});
    expect(checked.result).toMatchObject({ name: "engine", state: "ok", message: expect.stringMatching(/^Docker Engine \S+ answers at the default socket/) });
    const engine = checked.engine!;
    // This machine's Engine has BuildKit (the agent's suite builds with it): chosen by default, and its session opens.
    expect(await checkBuilder(docker, engine, { builder: undefined, isolation: NO_LIMITS })).toEqual({
      builder: "buildkit",
      result: { name: "builder", state: "ok", message: `the agent will build with BuildKit (Engine ${engine.version} (API ${engine.apiVersion}) has BuildKit); POST /session opens a session` },
    });
    expect(await checkBuilder(docker, engine, { builder: "classic", isolation: NO_LIMITS })).toMatchObject({
      builder: "classic",
      result: { state: "ok", message: "the agent will build with the classic builder (DOCKIFY_AGENT_BUILDER=classic)" },
    });
    // A threshold far above any disk: the host would take no builds, and the check says how to fix it.
    const full = await checkDisk(docker, { pruneBelow: { bytes: 1024 ** 5 }, stopBelow: { bytes: 1024 ** 5 } });
    expect(full).toMatchObject({ name: "disk", state: "fail", fix: expect.stringContaining("lower DOCKIFY_AGENT_STOP_BELOW") });
    expect(await checkDisk(docker, { pruneBelow: { bytes: 0 }, stopBelow: { bytes: 0 } })).toMatchObject({ state: "ok" });
  });

  it("fail with the fix when no Engine answers", async () => {
    const engine = await checkEngine(new Docker({ socketPath: "/nonexistent/docker.sock" }), { DOCKER_HOST: "unix:///nonexistent/docker.sock" });
    expect(formatCheck(engine.result)).toBe(
      "FAIL engine: no Docker Engine answers at DOCKER_HOST=unix:///nonexistent/docker.sock: connect ENOENT /nonexistent/docker.sock; " +
        "fix: start the Docker Engine (systemctl start docker), or point DOCKER_HOST at it (unix:///path/docker.sock, tcp://host:2376)",
    );
  });

  it("fail the builder when the agent would refuse to start, and warn when the Engine has no BuildKit", async () => {
    const docker = new Docker();
    const old = { version: "18.06.3", apiVersion: "1.38", platform: { os: "linux", architecture: "amd64" }, hasBuildKit: false };
    expect(await checkBuilder(docker, old, { builder: "buildkit", isolation: NO_LIMITS })).toMatchObject({
      result: { state: "fail", message: expect.stringMatching(/^the agent would refuse to start: DOCKIFY_AGENT_BUILDER: buildkit needs a Linux Engine with API 1\.41/) },
    });
    expect(await checkBuilder(docker, old, { builder: undefined, isolation: NO_LIMITS })).toMatchObject({
      builder: "classic",
      result: { state: "warn", fix: "upgrade the Docker Engine to 20.10 or newer (API 1.41) for BuildKit" },
    });
    const current = { ...old, version: "20.10.24", apiVersion: "1.41", hasBuildKit: true };
    // BuildKit chosen by the Engine, with a limit it would not enforce: the agent refuses to start, and so the doctor says.
    expect(await checkBuilder(docker, current, { builder: undefined, isolation: { ...NO_LIMITS, memoryBytes: GIB } })).toMatchObject({
      result: { state: "fail", message: expect.stringContaining("DOCKIFY_AGENT_BUILD_MEMORY: BuildKit does not limit a RUN step's memory") },
    });
  });

  it("tell an Engine on this host from one elsewhere", () => {
    expect(remoteEngine(new Docker({ socketPath: "/var/run/docker.sock" }))).toBeNull();
    expect(remoteEngine(new Docker({ host: "127.0.0.1", port: 2375 }))).toBeNull();
    expect(remoteEngine(new Docker({ host: "build-1.internal", port: 2376 }))).toBe(
      "the Engine is on another host (build-1.internal): its disk can be watched only there",
    );
  });

  it("read this kernel's cgroup controllers", async () => {
    const kernel = await cgroupControllers();
    expect(kernel?.version === 1 || kernel?.version === 2).toBe(true);
    expect(kernel?.controllers.has("memory")).toBe(true);
  });
});

describe("the limits check", () => {
  const enforced = { MemoryLimit: true, SwapLimit: true, CpuCfsQuota: true, CgroupVersion: "2" };
  const kernel = { version: 2 as const, controllers: new Set(["cpu", "memory", "pids"]) };

  it("passes when the kernel enforces what is set", () => {
    expect(checkLimits({ ...NO_LIMITS, memoryBytes: 2 * GIB, cpus: 1.5 }, enforced, kernel, "classic")).toEqual({
      name: "limits",
      state: "ok",
      message: "the kernel enforces the limits for RUN steps (memory 2 GiB, 1.5 CPUs; cgroup v2, controllers cpu and memory)",
    });
  });

  it("fails for a limit the kernel would not enforce, from docker info or from the kernel's own list", () => {
    expect(checkLimits({ ...NO_LIMITS, memoryBytes: GIB }, { ...enforced, MemoryLimit: false }, kernel, "classic")).toMatchObject({
      state: "fail",
      message: expect.stringContaining("DOCKIFY_AGENT_BUILD_MEMORY=1 GiB is not enforced"),
    });
    expect(checkLimits({ ...NO_LIMITS, cpus: 2 }, enforced, { version: 2, controllers: new Set(["memory"]) }, "classic")).toMatchObject({
      state: "fail",
      message: expect.stringContaining("DOCKIFY_AGENT_BUILD_CPUS=2 is not enforced"),
    });
  });

  it("warns when swap is not limited, or when nothing is", () => {
    expect(checkLimits({ ...NO_LIMITS, memoryBytes: GIB }, { ...enforced, SwapLimit: false }, undefined, "classic")).toMatchObject({
      state: "warn",
      fix: "enable swap accounting (kernel parameter swapaccount=1)",
    });
    expect(checkLimits(NO_LIMITS, enforced, kernel, "classic")).toMatchObject({ state: "warn", message: expect.stringContaining("one build can take all of the host") });
  });

  it("says BuildKit limits nothing", () => {
    expect(checkLimits(NO_LIMITS, enforced, kernel, "buildkit")).toEqual({
      name: "limits",
      state: "warn",
      message: "BuildKit limits no RUN step's memory or CPU: one build can take all of the host (cgroup v2, controllers cpu and memory)",
      fix: "on a host builds share, set DOCKIFY_AGENT_BUILDER=classic with DOCKIFY_AGENT_BUILD_MEMORY and _CPUS",
    });
  });
});

describe("the verdict", () => {
  it("is that the host can build unless a check failed", () => {
    expect(hostCanBuild([{ name: "a", state: "ok", message: "" }, { name: "b", state: "warn", message: "" }, { name: "c", state: "skip", message: "" }])).toBe(true);
    expect(hostCanBuild([{ name: "a", state: "ok", message: "" }, { name: "b", state: "fail", message: "" }])).toBe(false);
  });
});
