/**
 * A rogue agent with a valid token floods its socket with 50,000 frames (the
 * break of issue 13: `hello` after `hello`, which used to leave the API silent
 * for over 10 s). The pool closes the socket for its frame budget, and
 * `GET /v1/builds/{id}` stays fast meanwhile; an honest agent beside it
 * builds and pushes as usual.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { CLOSE, type AgentMessage } from "../../shared/protocol";
import { ok } from "../../harness/api";
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

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Connects like an agent and sends `frames` of the given kind as fast as the socket takes them; resolves with how it was closed. */
async function flood(frame: (index: number) => AgentMessage): Promise<{ sentFrames: number; closed: Promise<{ code: number; reason: string }> }> {
  const ws = new WebSocket(`${stack.worker.url.replace(/^http/, "ws")}/agent/connect`, {
    headers: { Authorization: `Bearer ${stack.secrets.agentToken}` },
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  let sentFrames = 0;
  for (let index = 0; index < FRAMES && ws.readyState === WebSocket.OPEN; index++) {
    ws.send(JSON.stringify(frame(index)));
    sentFrames += 1;
  }
  return { sentFrames, closed };
}

/** GET /v1/builds/{id} one after another while `busy` runs, and for `afterMs` after; the latencies, sorted. */
async function latenciesDuring(id: string, busy: Promise<unknown>, afterMs: number): Promise<number[]> {
  let done = false;
  void busy.finally(() => sleep(afterMs).then(() => (done = true)));
  const latencies: number[] = [];
  while (!done) {
    const started = performance.now();
    const response = await stack.api.build(id);
    latencies.push(performance.now() - started);
    expect(response.status).toBe(200);
  }
  return latencies.sort((a, b) => a - b);
}

describe("an agent socket flooded with frames", () => {
  it.each([
    {
      kind: "hello",
      frame: (index: number): AgentMessage => ({ type: "hello", name: `rogue-${index}`, version: "x", concurrency: 1, labels: {}, holding: [] }),
      reason: "frame budget: a socket says hello once",
    },
    {
      kind: "log",
      frame: (index: number): AgentMessage =>
        index === 0
          ? { type: "hello", name: "rogue", version: "x", concurrency: 64, labels: {}, holding: [] }
          : { type: "log", jobId: crypto.randomUUID(), attempt: 1, entries: [`flood ${index}`] },
      reason: "frame budget: job reports faster than the log streamer's pace",
    },
  ])(`is closed for its budget ($kind frames), and the API stays fast meanwhile`, async ({ frame, reason }) => {
    const { task_id: id } = ok(await stack.api.submitSeedBuild({
      query: { user_name: stack.secrets.registryUser, repo: "flood", tag: "honest", registry: stack.registry.host },
      fields: { password: stack.secrets.registryPassword },
      dockerfile: `FROM ${stack.baseImage}\nRUN echo honest > /honest.txt\n`,
    }));
    const flooding = flood(frame);
    const latencies = await latenciesDuring(id, flooding.then(({ closed }) => closed), 500);
    const { sentFrames, closed } = await flooding;
    expect(await closed).toEqual({ code: CLOSE.frameBudget, reason });
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    console.log(`${sentFrames} frames sent before the close; GET /v1/builds/{id} x${latencies.length}: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`);
    expect(p99).toBeLessThan(P99_BOUND_MS);
    // The honest agent beside it was not touched.
    expect(await stack.api.waitForStatus(id)).toMatchObject({ status: "success" });
    expect(stack.agent!.output()).not.toMatch(/disconnected from the pool/);
  });
});
