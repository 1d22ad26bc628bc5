import { describe, expect, it } from "vitest";
import { renderEntry } from "../shared/build-log";
import { MAX_QUEUED_LOG_BATCHES, type AgentMessage, type HeldJob } from "../shared/protocol";
import type { AgentLogEntry } from "../shared/build-log";
import { SendQueue } from "./send-queue";

const JOB_A = crypto.randomUUID();
const JOB_B = crypto.randomUUID();
const LEASE = "l".repeat(32);

function log(jobId: string, ...entries: AgentLogEntry[]): AgentMessage {
  return { type: "log", jobId, attempt: 1, entries };
}

/** The event that stands where `count` entries were dropped. */
function dropped(count: number): AgentLogEntry {
  return { event: { type: "lines-dropped", count } };
}
const logBytes = Buffer.byteLength(JSON.stringify(log(JOB_A, "x".repeat(100))));

function queue(maxBytes: number) {
  const drops: string[] = [];
  return { queue: new SendQueue({ maxBytes, onFirstDrop: (jobId) => drops.push(jobId) }), drops };
}

describe("SendQueue", () => {
  it("keeps messages in order and empties on drain", () => {
    const { queue: q } = queue(10_000);
    const phase: AgentMessage = { type: "phase", jobId: JOB_A, attempt: 1, phase: "building" };
    q.push(phase);
    q.push(log(JOB_A, "one"));
    expect(q.drain().map(({ message }) => message)).toEqual([phase, log(JOB_A, "one")]);
    expect(q.drain()).toEqual([]);
  });

  it("does not keep hello and heartbeat: they describe the moment", () => {
    const { queue: q } = queue(10_000);
    q.push({ type: "heartbeat", holding: [] });
    q.push({ type: "hello", name: "a", version: "1", concurrency: 1, labels: {}, holding: [] });
    expect(q.drain()).toEqual([]);
  });

  it("drops log batches past the byte budget, and marks the gap once in the job's log", () => {
    const { queue: q, drops } = queue(logBytes * 2);
    for (let i = 0; i < 5; i++) q.push(log(JOB_A, "x".repeat(100)));
    q.push(log(JOB_A, "y", "z"));
    expect(drops).toEqual([JOB_A]);
    const messages = q.drain().map(({ message }) => message);
    expect(messages).toHaveLength(3);
    expect(messages[2]).toEqual(log(JOB_A, dropped(5)));
    expect(renderEntry(dropped(5))).toBe(
      "[dockify] 5 log line(s) dropped here: the agent was disconnected from the pool and its send queue was full",
    );
  });

  it(`keeps at most ${MAX_QUEUED_LOG_BATCHES} log batches however small, the burst the pool's frame budget takes on a reconnect`, () => {
    const { queue: q } = queue(1024 * 1024 * 1024);
    for (let i = 0; i < MAX_QUEUED_LOG_BATCHES + 10; i++) q.push(log(JOB_A, `line ${i}`));
    const drained = q.drain().map(({ message }) => message);
    expect(drained).toHaveLength(MAX_QUEUED_LOG_BATCHES + 1);
    expect(drained.at(-1)).toEqual(log(JOB_A, dropped(10)));
  });

  it("never drops results or phase changes, however full the queue is", () => {
    const { queue: q } = queue(0);
    const held: HeldJob = { jobId: JOB_A, attempt: 2, leaseToken: LEASE };
    q.push(log(JOB_A, "dropped"));
    q.push({ type: "phase", jobId: JOB_A, attempt: 2, phase: "pushing" });
    q.push({ type: "result", jobId: JOB_A, attempt: 2, outcome: { status: "canceled" } }, held);
    expect(q.heldResults()).toEqual([held]);
    expect(q.drain().map(({ message }) => message.type)).toEqual(["log", "phase", "result"]);
    expect(q.heldResults()).toEqual([]);
  });

  it("returns each result with its lease, so it can be queued again", () => {
    const { queue: q } = queue(0);
    const held: HeldJob = { jobId: JOB_A, attempt: 1, leaseToken: LEASE };
    q.push({ type: "result", jobId: JOB_A, attempt: 1, outcome: { status: "canceled" } }, held);
    expect(q.drain()).toEqual([{ message: { type: "result", jobId: JOB_A, attempt: 1, outcome: { status: "canceled" } }, held }]);
  });

  it("counts drops per job, each gap where it happened", () => {
    const { queue: q, drops } = queue(0);
    q.push(log(JOB_A, "a1"));
    q.push(log(JOB_B, "b1"));
    q.push(log(JOB_A, "a2", "a3"));
    q.push({ type: "phase", jobId: JOB_B, attempt: 1, phase: "pushing" });
    q.push(log(JOB_B, "b2"));
    expect(drops).toEqual([JOB_A, JOB_B, JOB_B]);
    expect(q.drain().map(({ message }) => message)).toEqual([
      log(JOB_A, dropped(3)),
      log(JOB_B, dropped(1)),
      { type: "phase", jobId: JOB_B, attempt: 1, phase: "pushing" },
      log(JOB_B, dropped(1)),
    ]);
  });

  it("counts Dockify's events among the dropped entries: each is a line of the log", () => {
    const { queue: q } = queue(0);
    q.push(log(JOB_A, "a1", { event: { type: "pushing", reference: "r.io/a/b:v1" } }));
    expect(q.drain().map(({ message }) => message)).toEqual([log(JOB_A, dropped(2))]);
  });
});
