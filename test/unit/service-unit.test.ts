/**
 * deploy/dockify-agent.service: checked by systemd's own `systemd-analyze
 * verify` (which prints what it ignores and still exits 0, so its output must
 * be empty too), and read for what the agent relies on: one SIGTERM to the agent,
 * a stop timeout longer than the drain, restarts on failure only, the token from a file.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const UNIT = new URL("../../deploy/dockify-agent.service", import.meta.url);
/** ExecStart names the command, which systemd finds on its search path. */
const COMMAND = "dockify-agent";
/** The agent's default DOCKIFY_AGENT_DRAIN_SECONDS (agent/config.ts). */
const DEFAULT_DRAIN_SECONDS = 600;

function findSystemdAnalyze(): string | undefined {
  const found = spawnSync("sh", ["-c", "command -v systemd-analyze"], { encoding: "utf8" }).stdout.trim();
  return found || (existsSync("/usr/bin/systemd-analyze") ? "/usr/bin/systemd-analyze" : undefined);
}
const SYSTEMD_ANALYZE = findSystemdAnalyze();
const SKIPPED = SYSTEMD_ANALYZE ? "" : " (SKIPPED: systemd-analyze is not installed on this machine; .ci/run installs it)";

/** `Key=value` lines of the unit, each key's values in order. */
function directives(text: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (match) found.set(match[1]!, [...(found.get(match[1]!) ?? []), match[2]!]);
  }
  return found;
}

describe("deploy/dockify-agent.service", () => {
  const text = readFileSync(UNIT, "utf8");
  const unit = directives(text);
  const dir = mkdtempSync(join(tmpdir(), "dockify-unit-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(`passes systemd-analyze verify with no warning${SKIPPED}`, { skip: !SYSTEMD_ANALYZE }, () => {
    // verify checks that ExecStart's program exists: the same unit, pointing at a program that does.
    const program = join(dir, "dockify-agent");
    writeFileSync(program, "#!/bin/sh\nexit 0\n");
    chmodSync(program, 0o755);
    const copy = join(dir, "dockify-agent.service");
    writeFileSync(copy, text.replace(`ExecStart=${COMMAND} `, `ExecStart=${program} `));
    const result = spawnSync(SYSTEMD_ANALYZE!, ["verify", copy], { encoding: "utf8" });
    expect({ status: result.status, output: `${result.stdout}${result.stderr}`.trim() }).toEqual({ status: 0, output: "" });
  });

  it("fails systemd-analyze verify for a unit it cannot run, so the check above can fail" + SKIPPED, { skip: !SYSTEMD_ANALYZE }, () => {
    const copy = join(dir, "broken.service");
    writeFileSync(copy, text.replace("KillMode=mixed", "KillMode=mixd"));
    const result = spawnSync(SYSTEMD_ANALYZE!, ["verify", copy], { encoding: "utf8" });
    expect(result.stderr).toContain("kill mode");
  });

  it("runs the installed command's start, with the token from a file", () => {
    expect(unit.get("ExecStart")).toEqual([`${COMMAND} start --config /etc/dockify/agent.env`]);
    expect(unit.get("Environment")).toEqual(["DOCKIFY_AGENT_TOKEN_FILE=/etc/dockify/agent-token"]);
    expect(unit.get("User")).toEqual(["dockify-agent"]);
    expect(unit.get("SupplementaryGroups")).toEqual(["docker"]);
  });

  it("stops the agent with one SIGTERM, and waits longer than its drain", () => {
    expect(unit.get("KillMode")).toEqual(["mixed"]);
    expect(unit.get("KillSignal")).toEqual(["SIGTERM"]);
    expect(Number(unit.get("TimeoutStopSec")?.[0])).toBeGreaterThan(DEFAULT_DRAIN_SECONDS);
  });

  it("restarts after a failure, but not after a stop or a refused configuration (exit 2)", () => {
    expect(unit.get("Restart")).toEqual(["on-failure"]);
    expect(unit.get("RestartPreventExitStatus")).toEqual(["2"]);
  });
});
