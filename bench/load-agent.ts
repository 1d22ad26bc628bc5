/**
 * BENCHMARK TOOL, NOT THE PRODUCT, USED BY NO TEST: a load generator that
 * speaks the agent protocol (shared/protocol.ts) over the real agent's own
 * socket (agent/socket.ts: the WebSocket handshake with the agent token,
 * hello, reconnects) and reports every assignment `succeeded` without
 * building anything, fetching no context and pushing nothing. It exists to
 * measure the control plane (dispatch latency, a pool's capacity) with more
 * agents than this machine could run real ones. Its digests are made up; a
 * pool fed by it holds records of images that do not exist.
 */
import { createHash } from "node:crypto";
import { AgentSocket } from "../agent/socket";
import { AGENT_VERSION } from "../agent/config";
import { parseMessage, poolMessage, type Assignment, type HeldJob } from "../shared/protocol";

export interface LoadAgentOptions {
  /** The Worker's base URL, `http://127.0.0.1:PORT`. */
  url: string;
  token: string;
  name: string;
  /** Slots announced in hello (default 1). */
  concurrency?: number;
  /** How long a "build" takes before it is reported succeeded (default 0: at once). */
  workMs?: number;
  /** Called with each assignment the moment its frame is parsed, with `Date.now()` then. */
  onAssign?: (assignment: Assignment, receivedAt: number) => void;
}

/** A made-up image digest, stable per job, in the form the protocol checks. */
function fakeDigest(jobId: string): string {
  return `sha256:${createHash("sha256").update(jobId).digest("hex")}`;
}

export class LoadAgent {
  readonly #options: LoadAgentOptions;
  readonly #socket: AgentSocket;
  readonly #holding = new Map<string, HeldJob>();
  #heartbeat: NodeJS.Timeout | undefined;
  #welcomed: () => void = () => undefined;
  /** Resolves at the pool's first `welcome`. */
  readonly welcomed: Promise<void>;
  assignments = 0;
  /** Assignments that came while every announced slot was busy (the pool should never send one). */
  overAssigned = 0;
  /** Frames from the pool that did not parse. */
  invalidFrames = 0;

  constructor(options: LoadAgentOptions) {
    this.#options = options;
    this.welcomed = new Promise((resolve) => (this.#welcomed = resolve));
    this.#socket = new AgentSocket({
      url: `${options.url.replace(/^http/, "ws")}/agent/connect`,
      token: options.token,
      hello: () => ({
        type: "hello",
        name: options.name,
        version: AGENT_VERSION,
        concurrency: options.concurrency ?? 1,
        labels: {},
        holding: [...this.#holding.values()],
      }),
      onMessage: (text) => this.#onMessage(text),
      onDisconnect: () => clearInterval(this.#heartbeat),
      status: () => undefined,
    });
    this.#socket.start();
  }

  #onMessage(text: string): void {
    const receivedAt = Date.now();
    const parsed = parseMessage(poolMessage, text);
    if (!parsed.ok) {
      this.invalidFrames += 1;
      return;
    }
    const message = parsed.message;
    if (message.type === "welcome") {
      clearInterval(this.#heartbeat);
      this.#heartbeat = setInterval(() => this.#socket.send({ type: "heartbeat", holding: [...this.#holding.values()] }), message.heartbeatMs);
      this.#welcomed();
    } else if (message.type === "assign") {
      this.assignments += 1;
      if (this.#holding.size >= (this.#options.concurrency ?? 1)) this.overAssigned += 1;
      const held = { jobId: message.jobId, attempt: message.attempt, leaseToken: message.leaseToken };
      this.#holding.set(message.jobId, held);
      this.#options.onAssign?.(message, receivedAt);
      const report = () => {
        this.#holding.delete(message.jobId);
        const digest = fakeDigest(message.jobId);
        this.#socket.send(
          { type: "result", jobId: message.jobId, attempt: message.attempt, outcome: { status: "succeeded", digest, imageId: digest } },
          held,
        );
      };
      if (this.#options.workMs) setTimeout(report, this.#options.workMs);
      else report();
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#heartbeat);
    await this.#socket.close();
  }
}

/** Starts `count` load agents named `${prefix}-1…` and waits until the pool has welcomed each. */
export async function startLoadAgents(count: number, options: Omit<LoadAgentOptions, "name"> & { prefix: string }): Promise<LoadAgent[]> {
  const agents = Array.from({ length: count }, (_, index) => new LoadAgent({ ...options, name: `${options.prefix}-${index + 1}` }));
  await Promise.all(agents.map((agent) => agent.welcomed));
  return agents;
}
