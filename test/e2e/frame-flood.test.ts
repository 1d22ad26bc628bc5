/**
 * A rogue agent with a valid token floods its socket with 50,000 frames (the
 * break of issue 13: `hello` after `hello`, which used to leave the API silent
 * for over 10 s without the socket ever being closed). The pool closes the
 * socket for its frame budget, and `GET /v1/builds/{id}` stays fast
 * meanwhile; an honest agent beside it builds and pushes as usual.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLOSE } from "../../shared/protocol";
import { ok } from "../../harness/api";
import { FLOODS, floodAgentSocket, latenciesUntil } from "../../harness/rogue-agent";
import { percentile } from "../../harness/stats";
import { startStack, type Stack } from "../../harness/stack";

const FRAMES = 50_000;
/** Generous for a loaded 2-core machine, and still a tenth of the stall it replaces. */
const P99_BOUND_MS = 1_000;

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
  await stack.agent!.waitForLine(/registered as agent/, { timeoutMs: 30_000 });
});

afterAll(async () => {
  await stack?.stop();
});

describe("an agent socket flooded with frames", () => {
  it.each([
    { kind: "hello" as const, reason: "frame budget: a socket says hello once" },
    { kind: "log" as const, reason: "frame budget: job reports faster than the log streamer's pace" },
  ])("is closed for its budget ($kind frames), and the API stays fast meanwhile", async ({ kind, reason }) => {
    const { task_id: id } = ok(
      await stack.api.submitSeedBuild({
        query: { user_name: stack.secrets.registryUser, repo: "flood", tag: kind, registry: stack.registry.host },
        fields: { password: stack.secrets.registryPassword },
        dockerfile: `FROM ${stack.baseImage}\nRUN echo honest > /honest.txt\n`,
      }),
    );
    const flooding = floodAgentSocket({ url: stack.worker.url, token: stack.secrets.agentToken, frames: FRAMES, frame: FLOODS[kind] });
    const statuses: number[] = [];
    const latencies = await latenciesUntil(
      async () => void statuses.push((await stack.api.build(id)).status),
      flooding.then(({ closed }) => closed),
      500,
    );
    const { sentFrames, closed } = await flooding;
    expect(sentFrames).toBe(FRAMES);
    expect(await closed).toEqual({ code: CLOSE.frameBudget, reason });
    expect(new Set(statuses)).toEqual(new Set([200]));
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    console.log(`${kind} flood of ${sentFrames} frames: GET /v1/builds/{id} x${latencies.length}: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`);
    expect(p99).toBeLessThan(P99_BOUND_MS);
    // The honest agent beside it was not touched.
    expect(await stack.api.waitForStatus(id)).toMatchObject({ status: "success" });
    expect(stack.agent!.output()).not.toMatch(/disconnected from the pool/);
  });
});
