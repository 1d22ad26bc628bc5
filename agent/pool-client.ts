/**
 * The agent's side of the pool protocol: hello on every connection, heartbeats
 * at the interval the pool dictates, and job slots: it takes assignments up to
 * its concurrency and cancels the runs the pool cancels.
 */
import {
  MAX_CONCURRENCY,
  AGENT_CAPABILITIES,
  PAUSE_CAUSES,
  poolMessage,
  parseMessage,
  type AgentMessage,
  type Assignment,
  type BuilderName,
  type HeldJob,
  type Pause,
  type PauseCause,
  type Platform,
  type PoolMessage,
} from "../shared/protocol";
import type { BackoffOptions } from "./backoff";
import type { AgentConfig } from "./config";
import { describeError } from "./errors";
import type { RunEnd } from "./job-runner";
import { AgentSocket } from "./socket";

/** Why an assignment is not taken. The pool does not over-assign, so these are rare; its lease recovers the job. */
export const REFUSAL = {
  draining: "the agent is shutting down",
  paused: "the agent is paused",
  full: "every slot is busy",
  duplicate: "this attempt (or a newer one) already runs here",
} as const;

export type RunJob = (assignment: Assignment, io: { send: (message: AgentMessage) => void; signal: AbortSignal }) => Promise<RunEnd>;

/** What the client tells an observer (the host metrics) as it happens. */
export interface PoolClientEvents {
  /** The pool welcomed this connection: the agent is registered and can be given jobs. */
  registered(): void;
  disconnected(): void;
  jobFinished(end: RunEnd, durationMs: number): void;
}

export interface PoolClientOptions {
  config: Pick<AgentConfig, "connectUrl" | "token" | "name" | "version" | "concurrency" | "labels">;
  /** What the agent's Engine builds for and with which builder, said in every hello. */
  engine?: { platform?: Platform; builder?: BuilderName };
  runJob: RunJob;
  status: (line: string) => void;
  backoff?: BackoffOptions;
  events?: Partial<PoolClientEvents>;
}

interface Run {
  held: HeldJob;
  controller: AbortController;
  /** Settles once the run has reported and cleaned up; never rejects. */
  done: Promise<void>;
}

export class PoolClient {
  readonly #options: PoolClientOptions;
  readonly #socket: AgentSocket;
  readonly #runs = new Map<string, Run>();
  #accepting = true;
  /** Shutting down (see `drain`): said in the hello of every connection from then on. */
  #draining = false;
  /** Why the agent takes nothing new for now (see `pause`), or undefined. */
  #pause: Pause | undefined;
  #heartbeat: NodeJS.Timeout | undefined;

  constructor(options: PoolClientOptions) {
    this.#options = options;
    this.#socket = new AgentSocket({
      url: options.config.connectUrl,
      token: options.config.token,
      hello: (queuedResults) => this.#hello(queuedResults),
      onMessage: (text) => this.#onMessage(text),
      onDisconnect: () => {
        clearInterval(this.#heartbeat);
        options.events?.disconnected?.();
      },
      status: options.status,
      backoff: options.backoff,
    });
  }

  start(): void {
    this.#socket.start();
  }

  get running(): number {
    return this.#runs.size;
  }

  /** Takes no more jobs and waits for the running ones, up to `timeoutMs`; true when all finished. */
  async drain(timeoutMs: number): Promise<boolean> {
    this.#accepting = false;
    this.#draining = true;
    // Tells the pool to stop assigning here, rather than letting refused assignments wait out their lease.
    this.#socket.send({ type: "draining" });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const finished = Promise.all([...this.#runs.values()].map((run) => run.done)).then(() => true);
    const drained = await Promise.race([finished, timedOut]);
    clearTimeout(timer);
    return drained;
  }

  /**
   * Takes nothing new, and tells the pool why (its builds that wait say so), until `resume`. What runs goes on.
   * Said in the hello of every connection while it lasts; a second pause only updates what the pool shows.
   */
  pause(cause: PauseCause, detail: string): void {
    this.#pause = { cause, detail };
    this.#socket.send({ type: "paused", cause, detail });
  }

  resume(): void {
    if (!this.#pause) return;
    this.#pause = undefined;
    this.#socket.send({ type: "resumed" });
  }

  get paused(): boolean {
    return this.#pause !== undefined;
  }

  /** Stops heartbeats and closes the connection after what was sent has gone out. */
  async stop(): Promise<void> {
    this.#accepting = false;
    clearInterval(this.#heartbeat);
    await this.#socket.close();
  }

  /** What one hello or heartbeat claims: the protocol takes at most MAX_CONCURRENCY, and waiting results add to the runs. */
  #holding(queuedResults: HeldJob[] = []): HeldJob[] {
    return [...[...this.#runs.values()].map((run) => run.held), ...queuedResults].slice(0, MAX_CONCURRENCY);
  }

  #hello(queuedResults: HeldJob[]): AgentMessage {
    const { name, version, concurrency, labels } = this.#options.config;
    const { platform, builder } = this.#options.engine ?? {};
    return {
      type: "hello",
      name,
      version,
      concurrency,
      labels,
      holding: this.#holding(queuedResults),
      capabilities: [...AGENT_CAPABILITIES],
      ...(platform && { platform }),
      ...(builder && { builder }),
      ...(this.#pause && { paused: this.#pause }),
      // In the hello itself: a pool registers the connection with it, before it could assign anything here.
      ...(this.#draining && { draining: true }),
    };
  }

  #onMessage(text: string): void {
    const parsed = parseMessage(poolMessage, text);
    if (!parsed.ok) return this.#options.status(`ignoring a message from the pool: ${parsed.reason}`);
    const message = parsed.message;
    switch (message.type) {
      case "welcome":
        return this.#welcome(message);
      case "assign":
        return this.#take(message);
      case "cancel":
        return this.#cancel(message);
    }
  }

  #welcome({ agentId, heartbeatMs }: Extract<PoolMessage, { type: "welcome" }>): void {
    this.#options.status(`registered as agent ${agentId}; heartbeat every ${heartbeatMs} ms`);
    clearInterval(this.#heartbeat);
    this.#heartbeat = setInterval(() => this.#socket.send({ type: "heartbeat", holding: this.#holding() }), heartbeatMs);
    // Said in the hello too; again here for pools released before the hello carried it.
    if (this.#draining) this.#socket.send({ type: "draining" });
    this.#options.events?.registered?.();
  }

  #refusal(assignment: Assignment, previous: Run | undefined): string | undefined {
    if (!this.#accepting) return REFUSAL.draining;
    // The pool learns of a pause a moment after it happens: an assignment already on its way is refused.
    if (this.#pause) return `${REFUSAL.paused}: ${PAUSE_CAUSES[this.#pause.cause]}`;
    if (previous && previous.held.attempt >= assignment.attempt) return REFUSAL.duplicate;
    // A newer attempt of a job already here replaces it in its slot.
    if (!previous && this.#runs.size >= this.#options.config.concurrency) return REFUSAL.full;
    return undefined;
  }

  #take(assignment: Assignment): void {
    const { jobId, attempt, leaseToken, image } = assignment;
    const { status } = this.#options;
    const previous = this.#runs.get(jobId);
    const refusal = this.#refusal(assignment, previous);
    if (refusal) {
      status(`job ${jobId} attempt ${attempt}: not taken: ${refusal}`);
      // Said to the pool, so the job goes to another agent now rather than after its lease.
      return this.#socket.send({ type: "refused", jobId, attempt, reason: refusal });
    }

    // The pool gave up on the older attempt; its report would be ignored, so stop it before building again.
    previous?.controller.abort();
    const held: HeldJob = { jobId, attempt, leaseToken };
    const controller = new AbortController();
    const started = Date.now();
    const send = (message: AgentMessage) => this.#socket.send(message, held);
    const run: Run = {
      held,
      controller,
      done: (previous?.done ?? Promise.resolve())
        .then(() => {
          status(`job ${jobId} attempt ${attempt}: started, building ${image.reference}`);
          return this.#options.runJob(assignment, { send, signal: controller.signal });
        })
        .then(
          (end) => {
            const durationMs = Date.now() - started;
            status(`job ${jobId} attempt ${attempt}: ${describeOutcome(end)} after ${seconds(durationMs)}`);
            this.#options.events?.jobFinished?.(end, durationMs);
          },
          // A bug, not a job failure: the lease will hand the job to another attempt.
          (error: unknown) => status(`job ${jobId} attempt ${attempt}: crashed without a report: ${describeError(error)}`),
        )
        .finally(() => {
          if (this.#runs.get(jobId) === run) this.#runs.delete(jobId);
        }),
    };
    this.#runs.set(jobId, run);
  }

  #cancel({ jobId, attempt, reason }: Extract<PoolMessage, { type: "cancel" }>): void {
    const run = this.#runs.get(jobId);
    if (run?.held.attempt !== attempt) return;
    this.#options.status(`job ${jobId} attempt ${attempt}: canceling (${reason})`);
    run.controller.abort();
  }
}

function describeOutcome(end: RunEnd): string {
  if (end.status === "failed") return `failed at step ${end.step}`;
  if (end.status === "given-back") return `given back to the pool (${end.reason})`;
  return end.status;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}
