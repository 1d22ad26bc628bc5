/**
 * The agent's one WebSocket to the pool, kept open: it reconnects with
 * backoff and jitter (after partysocket's ws.ts), says hello first on every
 * connection, and keeps what could not be sent in a bounded queue.
 *
 * The protocol has no acknowledgement, and a frame written into a connection
 * that has silently died is lost. So each result is followed by a ping: the
 * pong proves that the frames before it arrived. A result without its pong
 * when the connection drops is sent again on the next one (the pool ignores a
 * second result for a finished job).
 */
import WebSocket from "ws";
import { CLOSE, type AgentMessage, type HeldJob } from "../shared/protocol";
import { DEFAULT_BACKOFF, reconnectDelay, type BackoffOptions } from "./backoff";
import { SendQueue } from "./send-queue";

/** A connection that stayed up this long was a good one: the next drop starts the backoff afresh. */
const STABLE_AFTER_MS = 5_000;
const CLOSE_TIMEOUT_MS = 2_000;
/** If the pool never answered pings, unconfirmed results would pile up: past this many, the oldest count as delivered. */
const MAX_UNCONFIRMED = 64;
const HTTP_UNAUTHORIZED = 401;

/** Refusals that a quick retry cannot fix: wait the longest delay between attempts. */
const REFUSALS: ReadonlyMap<number, string> = new Map([
  [CLOSE.unauthorized, "the pool refused the agent token: check DOCKIFY_AGENT_TOKEN against the Worker's DOCKIFY_AGENT_TOKENS"],
  [CLOSE.forbidden, "the pool refused the agent's labels: its token is not granted them (DOCKIFY_AGENT_TOKEN_LABELS)"],
  // This agent paces itself within the budget, so being over it means a bug or a modified agent: retrying at
  // once would only flood again, and the jobs it runs keep their leases for the slow reconnect.
  [CLOSE.frameBudget, "the pool closed the connection: this agent sent more frames than the protocol's budget allows"],
  // Nothing changes until the operator upgrades the agent (or lowers DOCKIFY_MIN_AGENT_VERSION): keep trying, slowly.
  [CLOSE.outdatedAgent, "the pool refused this agent's version"],
]);

export interface AgentSocketOptions {
  url: string;
  token: string;
  /** The hello for a new connection, given the jobs whose results still wait in the queue. */
  hello: (queuedResults: HeldJob[]) => AgentMessage;
  onMessage: (text: string) => void;
  onDisconnect: () => void;
  /** One-line status output. */
  status: (line: string) => void;
  backoff?: BackoffOptions;
}

export class AgentSocket {
  readonly #options: AgentSocketOptions;
  readonly #backoff: BackoffOptions;
  readonly #queue: SendQueue;
  #ws: WebSocket | undefined;
  /** Results written to the current connection that no pong has confirmed yet, with the ping that follows each. */
  #unconfirmed: Array<{ message: AgentMessage; held: HeldJob; ping: number }> = [];
  #pings = 0;
  #retries = 0;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: AgentSocketOptions) {
    this.#options = options;
    this.#backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.#queue = new SendQueue({
      onFirstDrop: (jobId) => options.status(`send queue full while disconnected: dropping log lines of job ${jobId}`),
    });
  }

  start(): void {
    this.#connect();
  }

  /** Sends now if connected, else keeps the message for the next connection (see SendQueue). */
  send(message: AgentMessage, held?: HeldJob): void {
    const ws = this.#ws;
    if (ws?.readyState !== WebSocket.OPEN) return this.#queue.push(message, held);
    if (message.type === "result" && held) {
      ws.send(JSON.stringify(message));
      this.#unconfirmed.push({ message, held, ping: ++this.#pings });
      if (this.#unconfirmed.length > MAX_UNCONFIRMED) this.#unconfirmed.shift();
      ws.ping(String(this.#pings));
      return;
    }
    ws.send(JSON.stringify(message), (error) => {
      // The socket died under this message: keep it for the next connection.
      if (error) this.#queue.push(message, held);
    });
  }

  /** Stops reconnecting and closes the connection once what was sent has gone out. */
  async close(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#reconnectTimer);
    const ws = this.#ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return;
    const closed = new Promise<void>((resolve) => ws.once("close", () => resolve()));
    ws.close(1000, "agent stopping");
    const timer = setTimeout(() => ws.terminate(), CLOSE_TIMEOUT_MS);
    await closed;
    clearTimeout(timer);
  }

  #connect(): void {
    const { url, token, status } = this.#options;
    const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${token}` } });
    this.#ws = ws;
    let refusedStatus: number | undefined;
    let lastError = "";
    let stableTimer: NodeJS.Timeout | undefined;

    // The Worker refuses a bad token with HTTP 401 before the upgrade; the pool, once connected, with a close code.
    ws.on("unexpected-response", (_request, response) => {
      refusedStatus = response.statusCode;
      response.resume();
      ws.terminate();
    });
    ws.on("error", (error) => {
      lastError = error.message;
    });
    ws.on("open", () => {
      status(`connected to ${url}`);
      stableTimer = setTimeout(() => (this.#retries = 0), STABLE_AFTER_MS);
      ws.send(JSON.stringify(this.#options.hello(this.#queue.heldResults())));
      for (const { message, held } of this.#queue.drain()) this.send(message, held);
    });
    ws.on("message", (data, isBinary) => {
      if (!isBinary) this.#options.onMessage(data.toString());
    });
    ws.on("pong", (data) => {
      const confirmed = Number(data.toString());
      this.#unconfirmed = this.#unconfirmed.filter(({ ping }) => ping > confirmed);
    });
    ws.on("close", (code, reason) => {
      clearTimeout(stableTimer);
      if (this.#ws === ws) this.#ws = undefined;
      for (const { message, held } of this.#unconfirmed.splice(0)) this.#queue.push(message, held);
      this.#options.onDisconnect();
      if (this.#stopped) return;
      const refusal = REFUSALS.get(refusedStatus === HTTP_UNAUTHORIZED ? CLOSE.unauthorized : code);
      const delay = refusal ? this.#backoff.maxMs : reconnectDelay(this.#retries++, this.#backoff);
      // A refusal's own reason (the pool's sentence) says what exactly to fix.
      const poolReason = reason.toString();
      const why = refusal
        ? `${refusal}${poolReason ? `: ${poolReason}` : ""}`
        : refusedStatus
          ? `HTTP ${refusedStatus}`
          : `code ${code} ${poolReason || lastError}`.trim();
      status(`disconnected from the pool (${why}); reconnecting in ${(delay / 1000).toFixed(1)}s`);
      this.#reconnectTimer = setTimeout(() => this.#connect(), delay);
    });
  }
}
