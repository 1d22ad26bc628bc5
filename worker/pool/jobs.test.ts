import { describe, expect, it } from "vitest";
import { IGNORED, transition, type JobLease } from "./jobs";

const LEASE = 30_000;
const queued: JobLease = { state: "queued", attempt: 0, agentId: null, leaseExpiresAt: null, leaseHash: null, cancelRequested: false };
const building: JobLease = { state: "building", attempt: 1, agentId: "a1", leaseExpiresAt: 1_000 + LEASE, leaseHash: "h1", cancelRequested: false };
const digest = `sha256:${"0".repeat(64)}`;
const IMAGE = "r.io/alice/web:v1";
const pushTo = [IMAGE];

describe("transition", () => {
  it("assigns a queued job with the next attempt and a lease", () => {
    expect(transition(queued, { type: "assign", agentId: "a1", now: 1_000, leaseMs: LEASE, leaseHash: "h1" })).toEqual({
      ok: true,
      lease: { state: "assigned", attempt: 1, agentId: "a1", leaseExpiresAt: 31_000, leaseHash: "h1", cancelRequested: false },
    });
    expect(transition(building, { type: "assign", agentId: "a2", now: 1, leaseMs: LEASE, leaseHash: "h2" })).toEqual({
      ok: false,
      reason: IGNORED.notQueued,
    });
  });

  it("moves through phases and renews the lease only for the holder of the attempt", () => {
    const pushing = transition(building, { type: "phase", agentId: "a1", attempt: 1, phase: "pushing", now: 5_000, leaseMs: LEASE });
    expect(pushing).toEqual({ ok: true, lease: { ...building, state: "pushing", leaseExpiresAt: 35_000 } });
    for (const [agentId, attempt] of [["a2", 1], ["a1", 2]] as const) {
      expect(transition(building, { type: "phase", agentId, attempt, phase: "pushing", now: 5_000, leaseMs: LEASE }).ok).toBe(false);
      expect(transition(building, { type: "renew", agentId, attempt, now: 5_000, leaseMs: LEASE }).ok).toBe(false);
    }
  });

  it("lets a re-attaching agent on a new connection take over the same attempt only, with the lease's proof", () => {
    expect(transition(building, { type: "renew", agentId: "a9", attempt: 1, now: 2_000, leaseMs: LEASE, leaseHash: "h1" })).toEqual({
      ok: true,
      lease: { ...building, agentId: "a9", leaseExpiresAt: 32_000 },
    });
    expect(transition(building, { type: "renew", agentId: "a9", attempt: 2, now: 2_000, leaseMs: LEASE, leaseHash: "h1" }).ok).toBe(false);
    expect(transition(building, { type: "renew", agentId: "a9", attempt: 1, now: 2_000, leaseMs: LEASE, leaseHash: "h2" })).toEqual({
      ok: false,
      reason: IGNORED.notHeld,
    });
  });

  it("ends a job once: results after the end, or from an older attempt, are ignored", () => {
    const done = transition(building, { type: "result", agentId: "a1", attempt: 1, outcome: { status: "succeeded", digest, imageId: "i" }, pushTo });
    expect(done).toMatchObject({ ok: true, lease: { state: "succeeded", agentId: null, leaseExpiresAt: null, leaseHash: null }, end: { digest } });
    if (!done.ok) throw new Error("unreachable");
    const again = transition(done.lease, { type: "result", agentId: "a1", attempt: 1, outcome: { status: "failed", step: "push", error: "x" }, pushTo });
    expect(again).toEqual({ ok: false, reason: IGNORED.final });
    const stale = transition({ ...building, attempt: 2 }, { type: "result", agentId: "a1", attempt: 1, outcome: { status: "canceled" }, pushTo });
    expect(stale).toEqual({ ok: false, reason: IGNORED.notHeld });
  });

  it("re-queues an expired lease, and fails with step agent after the last attempt", () => {
    expect(transition(building, { type: "leaseExpired", now: 30_999, maxAttempts: 3 })).toEqual({ ok: false, reason: IGNORED.notExpired });
    expect(transition(building, { type: "leaseExpired", now: 31_000, maxAttempts: 3 })).toEqual({
      ok: true,
      lease: { state: "queued", attempt: 1, agentId: null, leaseExpiresAt: null, leaseHash: null, cancelRequested: false },
    });
    const last = transition({ ...building, attempt: 3 }, { type: "leaseExpired", now: 31_000, maxAttempts: 3 });
    expect(last).toMatchObject({ ok: true, lease: { state: "failed" }, end: { step: "agent" } });
  });

  it("ignores a result that arrives after the lease expired and the job was re-queued", () => {
    const requeued = transition(building, { type: "leaseExpired", now: 40_000, maxAttempts: 3 });
    if (!requeued.ok) throw new Error("unreachable");
    const late = transition(requeued.lease, { type: "result", agentId: "a1", attempt: 1, outcome: { status: "succeeded", digest, imageId: "i" }, pushTo });
    expect(late).toEqual({ ok: false, reason: IGNORED.notHeld });
  });

  it("cancels a queued job at once and marks a running one, which the agent then ends", () => {
    expect(transition(queued, { type: "cancel" })).toMatchObject({ ok: true, lease: { state: "canceled" }, end: { step: "canceled" } });
    const marked = transition(building, { type: "cancel" });
    expect(marked).toEqual({ ok: true, lease: { ...building, cancelRequested: true } });
    if (!marked.ok) throw new Error("unreachable");
    const confirmed = transition(marked.lease, { type: "result", agentId: "a1", attempt: 1, outcome: { status: "canceled" }, pushTo });
    expect(confirmed).toMatchObject({ ok: true, lease: { state: "canceled" } });
  });

  it("ends a canceled job whose agent went silent as canceled, not re-queued", () => {
    const silent = transition({ ...building, cancelRequested: true }, { type: "leaseExpired", now: 40_000, maxAttempts: 3 });
    expect(silent).toMatchObject({ ok: true, lease: { state: "canceled" }, end: { step: "canceled" } });
  });

  it("ends a success that does not list every reference the job pushes, in order, as failed at step push", () => {
    const MIRROR = "r.io/mirror/web:v1";
    const result = (pushed: { reference: string; digest: string }[] | undefined, targets: string[]) =>
      transition(building, { type: "result", agentId: "a1", attempt: 1, outcome: { status: "succeeded", digest, imageId: "i", ...(pushed && { pushed }) }, pushTo: targets });
    const both = [{ reference: IMAGE, digest }, { reference: MIRROR, digest }];
    expect(result(both, [IMAGE, MIRROR])).toMatchObject({ lease: { state: "succeeded" }, end: { pushed: both } });
    // An agent that ignored also_push (too old to know it), or pushed elsewhere, or listed nothing.
    for (const pushed of [[both[0]!], [both[1]!, both[0]!], [], undefined]) {
      expect(result(pushed, [IMAGE, MIRROR])).toMatchObject({ lease: { state: "failed" }, end: { step: "push", error: expect.stringContaining(MIRROR) } });
    }
    // An agent too old to list what it pushed is taken at its word for a job of one reference: the digest is that one's.
    expect(result(undefined, [IMAGE])).toMatchObject({ lease: { state: "succeeded" }, end: { pushed: [{ reference: IMAGE, digest }] } });
  });

  it("lets a success that races a cancel stand: the image was pushed", () => {
    const raced = transition({ ...building, cancelRequested: true }, {
      type: "result",
      agentId: "a1",
      attempt: 1,
      outcome: { status: "succeeded", digest, imageId: "i" },
      pushTo,
    });
    expect(raced).toMatchObject({ ok: true, lease: { state: "succeeded" } });
    expect(transition({ ...building, state: "succeeded" }, { type: "cancel" })).toEqual({ ok: false, reason: IGNORED.final });
  });

  const refusal = {
    type: "refused",
    agentId: "a1",
    attempt: 1,
    reason: "the Docker Engine failed: socket hang up",
    maxAttempts: 3,
    givenBack: true,
  } as const;

  it("queues a refused assignment again at once, keeping the attempt number spent", () => {
    expect(transition(building, refusal)).toEqual({
      ok: true,
      lease: { ...building, state: "queued", agentId: null, leaseExpiresAt: null, leaseHash: null },
    });
    expect(transition(building, { ...refusal, agentId: "a2" }).ok).toBe(false);
  });

  it("ends a job given back on its last attempt at step agent, with the agent's reason", () => {
    const last = transition({ ...building, attempt: 3 }, { ...refusal, attempt: 3 });
    expect(last).toMatchObject({
      ok: true,
      lease: { state: "failed", agentId: null },
      end: { step: "agent", error: "the build agent gave up on attempt 3 of 3: the Docker Engine failed: socket hang up" },
    });
  });

  it("queues again, even on the last attempt, an assignment the agent never started (draining, full)", () => {
    const notTaken = { ...refusal, attempt: 3, reason: "the agent is shutting down", givenBack: false };
    expect(transition({ ...building, attempt: 3 }, notTaken)).toMatchObject({ ok: true, lease: { state: "queued", attempt: 3 } });
  });

  it("ends a job given back after a cancel reached it as canceled, not queued again", () => {
    expect(transition({ ...building, cancelRequested: true }, refusal)).toMatchObject({ ok: true, lease: { state: "canceled" } });
  });
});
