import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { baseEnv, ManagedProcess } from "./managed-process";
import { groupAlive } from "./process-group";

const sh = (name: string, script: string) => ManagedProcess.spawn({ name, command: "/bin/sh", args: ["-c", script], env: baseEnv() });

describe("ManagedProcess", () => {
  it("waits for a line, logs to its file, and stop() ends the whole group", async () => {
    // The sleep is a grandchild in the same group: stop() must reach it too.
    const child = sh("group", "echo starting; sleep 30 & echo ready; wait");
    expect(await child.waitForLine(/^ready$/)).toBe("ready");
    expect(child.running).toBe(true);
    await child.stop(1_000);
    expect(child.running).toBe(false);
    expect(groupAlive(child.pid)).toBe(false);
    await child.closed;
    expect(readFileSync(child.logPath, "utf8")).toBe("starting\nready\n");
  });

  it("fails a wait with the log's tail when the process exits first", async () => {
    const child = sh("quits", "echo last words; exit 3");
    await expect(child.waitForLine("never printed")).rejects.toThrow(/quits exited \(code 3, signal none\) before printing never printed[\s\S]*last words/);
    expect(await child.exited).toEqual({ code: 3, signal: null });
  });

  it("waits only for output after `from`", async () => {
    const child = sh("from", "echo tick; sleep 0.2; echo tick; sleep 30");
    await child.waitForLine("tick");
    const from = child.outputLength();
    await expect(child.waitForLine("tick", { from, timeoutMs: 5_000 })).resolves.toBe("tick");
    expect(child.output()).toBe("tick\ntick\n");
    child.kill("SIGKILL");
    expect(await child.exited).toEqual({ code: null, signal: "SIGKILL" });
  });

  it("reports a command that cannot start", async () => {
    const child = ManagedProcess.spawn({ name: "missing", command: "/nonexistent/binary", env: baseEnv() });
    expect(await child.closed).toEqual({ code: null, signal: null });
    expect(child.describeExit()).toMatch(/^failed to start \(.*ENOENT/);
    expect(child.output()).toContain("/nonexistent/binary failed to start");
  });
});
