import { describe, expect, it } from "vitest";
import { baseEnv, ManagedProcess } from "./managed-process";
import { giveUp, notYet, poll } from "./poll";

describe("poll", () => {
  it("asks until the probe answers, and returns the answer", async () => {
    let calls = 0;
    expect(await poll("three calls", () => (++calls === 3 ? "done" : undefined), { intervalMs: 1 })).toBe("done");
    expect(calls).toBe(3);
  });

  it("counts a throwing probe as not yet, and names what it last saw and the last error at the deadline", async () => {
    let calls = 0;
    const probe = () => {
      if (++calls % 2) throw new Error("fetch failed", { cause: new Error("connect ECONNREFUSED") });
      return notYet(`HTTP 503 (call ${calls})`);
    };
    await expect(poll("the thing", probe, { timeoutMs: 100, intervalMs: 10 })).rejects.toThrow(
      /^the thing: not within 100 ms \(last answer: HTTP 503 \(call \d+\); last error: fetch failed \(Error: connect ECONNREFUSED\)\)$/,
    );
  });

  it("stops at once when the probe gives up, however long the wait could have been", async () => {
    const started = Date.now();
    await expect(poll("build x", () => giveUp("HTTP 404 unknown"), { timeoutMs: 30_000, intervalMs: 10 })).rejects.toThrow(/^build x: HTTP 404 unknown$/);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it("stops early, with the log's tail, when the watched process exits", async () => {
    const child = ManagedProcess.spawn({ name: "server", command: "/bin/sh", args: ["-c", "echo cannot listen; exit 1"], env: baseEnv() });
    const started = Date.now();
    await expect(poll("the server", () => undefined, { timeoutMs: 30_000, intervalMs: 10, process: child })).rejects.toThrow(
      /^the server: server exited \(code 1, signal none\) while waiting \(no answer\)\n--- server log: [\s\S]*cannot listen/,
    );
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
