import { describe, expect, it } from "vitest";
import { plan, waitingReason, type QueuedJob } from "./dispatch";
import type { AgentRecord } from "./records";

function agent(id: string, fields: Partial<AgentRecord> = {}): AgentRecord {
  return {
    id,
    name: id,
    version: "0.1.0",
    platform: "linux/amd64",
    builder: "buildkit",
    lastSeenAt: 0,
    concurrency: 1,
    labels: {},
    draining: false,
    refusing: false,
    paused: null,
    running: 0,
    connectedAt: 0,
    ...fields,
  };
}

function job(id: string, createdAt: number, labels: Record<string, string> = {}): QueuedJob {
  return { id, createdAt, labels };
}

describe("plan", () => {
  it("serves the oldest job first, whatever order the rows came in", () => {
    expect(plan([job("young", 2), job("old", 1)], [agent("a")])).toEqual([{ jobId: "old", agentId: "a" }]);
    expect(plan([job("b", 1), job("a", 1)], [agent("x")])).toEqual([{ jobId: "a", agentId: "x" }]);
  });

  it("gives each job to the least busy agent, counting what it assigns as it goes", () => {
    const agents = [agent("busy", { concurrency: 4, running: 2, connectedAt: 1 }), agent("idle", { concurrency: 4, running: 0, connectedAt: 2 })];
    expect(plan([job("1", 1), job("2", 2), job("3", 3), job("4", 4)], agents)).toEqual([
      { jobId: "1", agentId: "idle" },
      { jobId: "2", agentId: "idle" },
      // Now both run two: the tie goes to the one that was less busy when the round began.
      { jobId: "3", agentId: "idle" },
      { jobId: "4", agentId: "busy" },
    ]);
  });

  it("breaks a tie between equally busy agents by who connected first", () => {
    const agents = [agent("late", { connectedAt: 20 }), agent("early", { connectedAt: 10 })];
    expect(plan([job("1", 1)], agents)).toEqual([{ jobId: "1", agentId: "early" }]);
  });

  it("never fills more slots than an agent has, and skips draining and refusing agents", () => {
    const agents = [agent("full", { running: 1 }), agent("draining", { draining: true }), agent("refusing", { refusing: true }), agent("two", { concurrency: 2 })];
    expect(plan([job("1", 1), job("2", 2), job("3", 3)], agents)).toEqual([
      { jobId: "1", agentId: "two" },
      { jobId: "2", agentId: "two" },
    ]);
  });

  it("sends a job only to an agent with every label it asks for, and lets younger jobs pass one that must wait", () => {
    const agents = [agent("amd", { labels: { arch: "amd64" } }), agent("arm", { labels: { arch: "arm64", disk: "ssd" } })];
    const queued = [job("gpu", 1, { gpu: "true" }), job("arm", 2, { arch: "arm64" }), job("any", 3)];
    expect(plan(queued, agents)).toEqual([
      { jobId: "arm", agentId: "arm" },
      { jobId: "any", agentId: "amd" },
    ]);
  });

  it("gives nothing to a paused agent", () => {
    const lowDisk = { cause: "low-disk", detail: "1 GiB free" } as const;
    expect(plan([job("1", 1)], [agent("paused", { paused: lowDisk })])).toEqual([]);
    expect(plan([job("1", 1)], [agent("paused", { paused: lowDisk }), agent("ready", { connectedAt: 5 })])).toEqual([{ jobId: "1", agentId: "ready" }]);
  });

  it("assigns nothing when no agent is connected", () => {
    expect(plan([job("1", 1)], [])).toEqual([]);
  });
});

describe("waitingReason", () => {
  it("says whether any connected agent could ever build the job", () => {
    expect(waitingReason({ labels: {} }, [], "default")).toEqual({ kind: "unmatched", message: "no build agent is connected to pool 'default'" });
    expect(waitingReason({ labels: { arch: "arm64" } }, [agent("a")], "gpu")).toEqual({
      kind: "unmatched",
      message: "no connected build agent of pool 'gpu' has the labels arch=arm64",
    });
    expect(waitingReason({ labels: {} }, [agent("a", { draining: true })], "default").message).toBe("every agent that can build it is shutting down");
    expect(waitingReason({ labels: {} }, [agent("a", { running: 1 })], "default")).toEqual({ kind: "busy", message: "every agent that can build it is busy" });
  });

  it("names the paused agents, with why, when every agent that could build it is paused", () => {
    const lowDisk = (detail: string) => ({ paused: { cause: "low-disk", detail } as const });
    expect(waitingReason({ labels: {} }, [agent("b-1", lowDisk("1 GiB free"))], "default")).toEqual({
      kind: "paused",
      message: "every agent that can build it is paused: low disk on b-1 (1 GiB free)",
    });
    // One shutting down, one paused: the build waits for the paused one.
    const mixed = [agent("b-1", lowDisk("1 GiB free")), agent("b-2", { draining: true })];
    expect(waitingReason({ labels: {} }, mixed, "default").message).toBe("every agent that can build it is paused: low disk on b-1 (1 GiB free)");
    // One that could build it is only busy: it will, once a slot frees.
    expect(waitingReason({ labels: {} }, [agent("b-1", lowDisk("x")), agent("b-2", { running: 1 })], "default").kind).toBe("busy");
    // A paused agent without the labels is not why it waits.
    expect(waitingReason({ labels: { arch: "arm64" } }, [agent("b-1", lowDisk("x"))], "default").kind).toBe("unmatched");
  });

  it("names at most three paused agents and counts the rest", () => {
    const fleet = ["a", "b", "c", "d", "e"].map((id) => agent(id, { paused: { cause: "low-disk", detail: "0 bytes free" } }));
    expect(waitingReason({ labels: {} }, fleet, "default").message).toBe(
      "every agent that can build it is paused: low disk on a (0 bytes free); low disk on b (0 bytes free); low disk on c (0 bytes free) and 2 more",
    );
  });
});
