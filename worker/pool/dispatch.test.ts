import { describe, expect, it } from "vitest";
import { plan as planWithPlacement, waitingReason, type QueuedJob } from "./dispatch";
import { BUILD_OPTIONS_CAPABILITY } from "../../shared/protocol";
import type { AgentRecord } from "./records";

/** Which job goes to which agent, for the tests of that alone; the placement's own tests read it whole. */
function plan(queued: readonly QueuedJob[], agents: readonly AgentRecord[]) {
  return planWithPlacement(queued, agents).map(({ jobId, agentId }) => ({ jobId, agentId }));
}

function agent(id: string, fields: Partial<AgentRecord> = {}): AgentRecord {
  return {
    id,
    name: id,
    version: "0.1.0",
    platform: "linux/amd64",
    builder: "buildkit",
    capabilities: [BUILD_OPTIONS_CAPABILITY],
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

  it("sends a build that names a platform only to an agent whose Engine builds it", () => {
    const agents = [agent("amd", { concurrency: 2 }), agent("arm", { platform: "linux/arm64/v8", connectedAt: 5 }), agent("old", { platform: null })];
    const queued = [{ ...job("arm", 1), platform: "linux/arm64" }, { ...job("riscv", 2), platform: "linux/riscv64" }, { ...job("amd", 3), platform: "linux/amd64" }];
    expect(plan(queued, agents)).toEqual([
      { jobId: "arm", agentId: "arm" },
      { jobId: "amd", agentId: "amd" },
    ]);
  });
});

describe("plan: cache affinity", () => {
  const warm = (id: string, createdAt: number, lastAgent: string): QueuedJob => ({ ...job(id, createdAt), lastAgent });

  it("sends a build to the agent that last built its repository when it has a free slot, even if another is less busy", () => {
    const agents = [agent("idle", { concurrency: 4 }), agent("warm", { concurrency: 4, running: 3, connectedAt: 5 })];
    expect(planWithPlacement([warm("1", 1, "warm")], agents)).toEqual([{ jobId: "1", agentId: "warm", placement: { reason: "warm-cache" } }]);
  });

  it("never makes a build wait for its last agent: a busy one is passed over for the least busy, and the log says why", () => {
    const agents = [agent("idle", { concurrency: 2 }), agent("warm", { running: 1, connectedAt: 5 })];
    expect(planWithPlacement([warm("1", 1, "warm"), warm("2", 2, "gone")], agents)).toEqual([
      { jobId: "1", agentId: "idle", placement: { reason: "least-busy", lastAgent: { name: "warm", state: "busy" } } },
      { jobId: "2", agentId: "idle", placement: { reason: "least-busy", lastAgent: { name: "gone", state: "disconnected" } } },
    ]);
  });

  it("says when the last agent cannot build it now, and when no agent has built it yet", () => {
    const agents = [agent("amd"), agent("arm", { platform: "linux/arm64", connectedAt: 5 })];
    expect(planWithPlacement([{ ...warm("1", 1, "arm"), platform: "linux/amd64" }, job("2", 2)], agents)).toEqual([
      { jobId: "1", agentId: "amd", placement: { reason: "least-busy", lastAgent: { name: "arm", state: "unable" } } },
      { jobId: "2", agentId: "arm", placement: { reason: "least-busy", lastAgent: null } },
    ]);
  });

  it("serves the oldest build first: a younger build's affinity never takes the slot an older one gets", () => {
    const agents = [agent("warm"), agent("other", { connectedAt: 5, running: 1, concurrency: 2 })];
    // The older build has no history and takes the least busy agent (warm, idle); the younger one then goes on.
    expect(plan([warm("young", 2, "warm"), job("old", 1)], agents)).toEqual([
      { jobId: "old", agentId: "warm" },
      { jobId: "young", agentId: "other" },
    ]);
  });

  it("fills the warm agent's slots and then spreads the rest, so its repository's builds do not queue behind it", () => {
    const agents = [agent("warm", { concurrency: 2 }), agent("cold", { concurrency: 2, connectedAt: 5 })];
    expect(plan([warm("1", 1, "warm"), warm("2", 2, "warm"), warm("3", 3, "warm")], agents)).toEqual([
      { jobId: "1", agentId: "warm" },
      { jobId: "2", agentId: "warm" },
      { jobId: "3", agentId: "cold" },
    ]);
  });
});

describe("what became of the last agent", () => {
  const warm = (id: string): QueuedJob => ({ ...job(id, 1), lastAgent: "last" });

  it("says the agent that built it last is paused or shutting down, not that it has no free slot", () => {
    const free = agent("free", { connectedAt: 9 });
    for (const [fields, state] of [
      [{ paused: { cause: "low-disk", detail: "3 GiB free" } }, "paused"],
      [{ draining: true }, "draining"],
      [{ running: 1 }, "busy"],
    ] as const) {
      expect(planWithPlacement([warm("1")], [agent("last", fields as Partial<AgentRecord>), free])).toEqual([
        { jobId: "1", agentId: "free", placement: { reason: "least-busy", lastAgent: { name: "last", state } } },
      ]);
    }
  });
});

describe("build options", () => {
  const old = { version: "0.0.9", capabilities: [] };

  it("gives a job that uses build options only to an agent that understands them; a plain job to any", () => {
    const agents = [agent("old", old), agent("new", { connectedAt: 5 })];
    const withOptions = { ...job("opts", 1), buildOptions: true };
    expect(plan([withOptions], agents)).toEqual([{ jobId: "opts", agentId: "new" }]);
    expect(plan([withOptions], [agent("old", old)])).toEqual([]);
    expect(plan([job("plain", 1)], [agent("old", old)])).toEqual([{ jobId: "plain", agentId: "old" }]);
  });

  it("says why a job that uses build options waits when no connected agent understands them", () => {
    const waiting = waitingReason({ labels: {}, buildOptions: true }, [agent("old", old)], "default");
    expect(waiting.kind).toBe("unmatched");
    expect(waiting.message).toContain("understands build options");
    expect(waiting.message).toContain("dockify-agent 0.0.9");
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

  it("says which platforms the connected agents build when none builds the one asked for", () => {
    const agents = [agent("a"), agent("b", { platform: "linux/arm64/v8" }), agent("c", { platform: null, labels: { ssd: "1" } })];
    expect(waitingReason({ labels: {}, platform: "linux/riscv64" }, agents, "default")).toEqual({
      kind: "unmatched",
      message: "no connected build agent of pool 'default' builds linux/riscv64: the agents build linux/amd64, linux/arm64/v8, an unknown platform (agents too old to say)",
    });
    expect(waitingReason({ labels: { ssd: "1" }, platform: "linux/amd64" }, agents, "default").message).toBe(
      "no connected build agent of pool 'default' builds linux/amd64: the agents with the labels ssd=1 build an unknown platform (agents too old to say)",
    );
    expect(waitingReason({ labels: {}, platform: "linux/arm64" }, [agent("b", { platform: "linux/arm64/v8", running: 1 })], "default").kind).toBe("busy");
  });

  it("names at most three paused agents and counts the rest", () => {
    const fleet = ["a", "b", "c", "d", "e"].map((id) => agent(id, { paused: { cause: "low-disk", detail: "0 bytes free" } }));
    expect(waitingReason({ labels: {} }, fleet, "default").message).toBe(
      "every agent that can build it is paused: low disk on a (0 bytes free); low disk on b (0 bytes free); low disk on c (0 bytes free) and 2 more",
    );
  });
});
