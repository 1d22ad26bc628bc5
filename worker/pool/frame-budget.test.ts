import { describe, expect, it } from "vitest";
import { CLOSE, MAX_MESSAGE_BYTES, type AgentMessage } from "../../shared/protocol";
import { FrameBudgets, HEARTBEAT_BURST, OVER_BUDGET, reportsBurst, REPORTS_PER_SLOT_PER_SECOND, TokenBucket } from "./frame-budget";

const HEARTBEAT_MS = 1000;
const hello = (concurrency = 1): AgentMessage => ({ type: "hello", name: "a", version: "1", concurrency, labels: {}, holding: [] });
const heartbeat: AgentMessage = { type: "heartbeat", holding: [] };
const log: AgentMessage = { type: "log", jobId: crypto.randomUUID(), attempt: 1, entries: ["x"] };

function budgets(registered: Record<string, number> = {}) {
  return new FrameBudgets(HEARTBEAT_MS, (agentId) => (agentId in registered ? { concurrency: registered[agentId]! } : null));
}

describe("TokenBucket", () => {
  it("gives its capacity at once, then refills at its rate up to the capacity", () => {
    const bucket = new TokenBucket(3, 2, 0);
    expect([bucket.take(0), bucket.take(0), bucket.take(0), bucket.take(0)]).toEqual([true, true, true, false]);
    expect(bucket.take(499)).toBe(false);
    expect(bucket.take(500)).toBe(true);
    expect([bucket.take(60_000), bucket.take(60_000), bucket.take(60_000), bucket.take(60_000)]).toEqual([true, true, true, false]);
  });
});

describe("FrameBudgets", () => {
  it("lets a socket say hello once", () => {
    const sockets = budgets();
    expect(sockets.spend("a", hello(), 0)).toBeNull();
    expect(sockets.spend("a", hello(), 10)).toBe(OVER_BUDGET.secondHello);
    expect(sockets.isClosing("a")).toBe(true);
    expect(sockets.isClosing("b")).toBe(false);
  });

  it("remembers a hello across a wake of the object, through the agent's row", () => {
    expect(budgets({ a: 2 }).spend("a", hello(), 0)).toBe(OVER_BUDGET.secondHello);
  });

  it("takes heartbeats at the pool's interval for ever, and refuses a flood of them", () => {
    const honest = budgets();
    honest.spend("a", hello(), 0);
    for (let beat = 1; beat <= 1000; beat++) expect(honest.spend("a", heartbeat, beat * HEARTBEAT_MS)).toBeNull();
    const flood = budgets();
    flood.spend("a", hello(), 0);
    const answers = Array.from({ length: HEARTBEAT_BURST + 1 }, () => flood.spend("a", heartbeat, 1));
    expect(answers.slice(0, HEARTBEAT_BURST)).toEqual(Array(HEARTBEAT_BURST).fill(null));
    expect(answers.at(-1)).toBe(OVER_BUDGET.heartbeats);
  });

  it("takes a reconnect's queued reports at once, then job reports at the streamer's pace per slot", () => {
    const sockets = budgets();
    sockets.spend("a", hello(2), 0);
    for (let frame = 0; frame < reportsBurst(2); frame++) expect(sockets.spend("a", log, 0)).toBeNull();
    expect(sockets.spend("a", log, 0)).toBe(OVER_BUDGET.reports);

    const steady = budgets();
    steady.spend("a", hello(2), 0);
    const gapMs = 1000 / (2 * REPORTS_PER_SLOT_PER_SECOND);
    for (let frame = 1; frame <= 10_000; frame++) expect(steady.spend("a", log, frame * gapMs)).toBeNull();
  });

  it("admits a frame that parses and is within budget; closes on a bad one and drops what follows unread", () => {
    const sockets = budgets();
    expect(sockets.admit("a", JSON.stringify(hello()), 0)).toEqual({ message: hello() });
    expect(sockets.admit("a", "{not json", 1)).toEqual({ close: { code: CLOSE.invalidMessage, reason: "message is not JSON" } });
    expect(sockets.admit("a", JSON.stringify(heartbeat), 2)).toEqual({ close: null });
    expect(sockets.admit("b", new ArrayBuffer(8), 0)).toEqual({ close: { code: CLOSE.invalidMessage, reason: "send JSON text frames" } });
    expect(sockets.admit("c", "x".repeat(MAX_MESSAGE_BYTES + 1), 0)).toMatchObject({ close: { code: CLOSE.tooLarge } });
    sockets.admit("d", JSON.stringify(hello()), 0);
    expect(sockets.admit("d", JSON.stringify(hello()), 0)).toEqual({ close: { code: CLOSE.frameBudget, reason: OVER_BUDGET.secondHello } });
    expect(sockets.admit("d", JSON.stringify(heartbeat), 0)).toEqual({ close: null });
  });

  it("forgets a closed socket", () => {
    const sockets = budgets();
    sockets.spend("a", hello(), 0);
    sockets.markClosing("a", 0);
    expect(sockets.isClosing("a")).toBe(true);
    sockets.forget("a");
    expect(sockets.isClosing("a")).toBe(false);
  });
});
