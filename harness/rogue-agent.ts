/**
 * A hostile agent with a valid token, for the frame-flood test and bench: it
 * connects like an agent and writes frames as fast as its socket takes them.
 * Also the latency figures taken while it does.
 */
import WebSocket from "ws";
import type { AgentMessage } from "../shared/protocol";

export interface FloodOptions {
  /** The Worker's base URL, `http://127.0.0.1:PORT`. */
  url: string;
  token: string;
  frames: number;
  /** The frame to send as number `index`. */
  frame: (index: number) => AgentMessage;
}

export interface Flood {
  /** Frames written before the socket stopped being open. */
  sentFrames: number;
  /** How the pool closed the socket. */
  closed: Promise<{ code: number; reason: string }>;
}

/** Connects and writes every frame at once (ws buffers what the network has not taken yet). */
export async function floodAgentSocket({ url, token, frames, frame }: FloodOptions): Promise<Flood> {
  const ws = new WebSocket(`${url.replace(/^http/, "ws")}/agent/connect`, { headers: { Authorization: `Bearer ${token}` } });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  let sentFrames = 0;
  for (let index = 0; index < frames && ws.readyState === WebSocket.OPEN; index++) {
    ws.send(JSON.stringify(frame(index)));
    sentFrames += 1;
  }
  return { sentFrames, closed };
}

/** Runs `request` one call after another until `until` settles and `afterMs` more have passed; the latencies in ms, sorted. */
export async function latenciesUntil(request: () => Promise<void>, until: Promise<unknown>, afterMs = 0): Promise<number[]> {
  let done = false;
  void until.finally(() => setTimeout(() => (done = true), afterMs));
  const latencies: number[] = [];
  while (!done) {
    const started = performance.now();
    await request();
    latencies.push(performance.now() - started);
  }
  return latencies.sort((a, b) => a - b);
}

/** The frames of the two floods issue 13 measured: `hello` after `hello`, and log batches after one hello. */
export const FLOODS = {
  hello: (index: number): AgentMessage => ({ type: "hello", name: `rogue-${index}`, version: "x", concurrency: 1, labels: {}, holding: [] }),
  log: (index: number): AgentMessage =>
    index === 0
      ? { type: "hello", name: "rogue", version: "x", concurrency: 64, labels: {}, holding: [] }
      : { type: "log", jobId: crypto.randomUUID(), attempt: 1, entries: [`flood ${index}`] },
} as const;
