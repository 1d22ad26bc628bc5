/**
 * What one agent socket may send the pool: one `hello`, heartbeats at the rate
 * the pool told it, and job reports (log batches, phases, results, refusals,
 * draining) at the rate its log streamer paces itself to. Each rate is a token
 * bucket per socket, with headroom over what an honest agent sends. A socket
 * over its budget is closed with CLOSE.frameBudget, and frames it already sent
 * cost the pool nothing more (issue 13: 50,000 `hello` frames on one socket
 * left the API silent for over 10 s).
 *
 * The buckets live in memory: after the object hibernates (only when no frame
 * came for a while) a socket starts again with full buckets, which is what a
 * quiet socket would have by then anyway. Whether a socket said hello is kept
 * in SQLite (its agents row), so a second hello is refused after a wake too.
 */
import {
  agentMessage,
  CLOSE,
  LOG_BATCHES_PER_SECOND,
  MAX_CONCURRENCY,
  MAX_QUEUED_LOG_BATCHES,
  parseMessage,
  type AgentMessage,
} from "../../shared/protocol";
import { frameText } from "./sockets";

/** Tokens that refill continuously up to a capacity; taking one from an empty bucket fails. */
export class TokenBucket {
  #tokens: number;
  #at: number;

  constructor(
    readonly capacity: number,
    readonly perSecond: number,
    now: number,
  ) {
    this.#tokens = capacity;
    this.#at = now;
  }

  take(now: number): boolean {
    this.#tokens = Math.min(this.capacity, this.#tokens + ((now - this.#at) / 1000) * this.perSecond);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/**
 * Heartbeats: an honest agent sends one per interval from a timer, which can
 * only run late. Four times that rate, and a burst of four, leaves room for a
 * timer that fires just after the welcome and for frames bunched up by a slow
 * network, and still stops a flood within a few frames.
 */
export const HEARTBEAT_HEADROOM = 4;
export const HEARTBEAT_BURST = 4;
/**
 * Job reports: per slot, LOG_BATCHES_PER_SECOND log batches (the streamer's
 * pace) plus about as many phases and results (a build can be done in 0.2 s:
 * two phases and a result each), so twice the streamer's rate per slot.
 */
export const REPORTS_PER_SLOT_PER_SECOND = 2 * LOG_BATCHES_PER_SECOND;
/**
 * The burst of reports: everything a reconnecting agent sends at once (its
 * queued log batches, and up to two phases and a result per job it ran), plus
 * what `flush`/`close` of each job's streamer sends unpaced (a few batches
 * per slot, one second's worth at most).
 */
export function reportsBurst(concurrency: number): number {
  return MAX_QUEUED_LOG_BATCHES + 3 * MAX_CONCURRENCY + concurrency * LOG_BATCHES_PER_SECOND;
}

/** Why a socket's frame is over budget: said in its close frame (at most 123 bytes). */
export const OVER_BUDGET = {
  secondHello: "frame budget: a socket says hello once",
  heartbeats: "frame budget: heartbeats faster than the interval the pool set",
  reports: "frame budget: job reports faster than the log streamer's pace",
} as const;
export type OverBudget = (typeof OVER_BUDGET)[keyof typeof OVER_BUDGET];

interface SocketBudget {
  said: boolean;
  heartbeats: TokenBucket;
  reports: TokenBucket;
  /** Over budget and being closed: its frames are dropped unread. */
  closing: boolean;
}

/** A frame the pool goes on to handle, or how to close its socket (null: it is being closed already, drop the frame). */
export type Admission = { message: AgentMessage } | { close: { code: number; reason: string } | null };

export class FrameBudgets {
  readonly #sockets = new Map<string, SocketBudget>();

  constructor(
    private readonly heartbeatMs: number,
    /** Whether the socket said hello before (its agents row), and with how many slots; read once per socket and wake. */
    private readonly registered: (agentId: string) => { concurrency: number } | null,
  ) {}

  /**
   * Checks a frame at once, as it arrives: dropped unread when its socket is
   * being closed, else parsed against the protocol and counted against its
   * socket's budget. A bad or over-budget frame marks the socket as closing.
   */
  admit(agentId: string, frame: string | ArrayBuffer, now: number): Admission {
    if (this.isClosing(agentId)) return { close: null };
    const text = frameText(frame);
    const parsed = "refused" in text ? { ok: false as const, reason: text.refused } : parseMessage(agentMessage, text.text);
    if (!parsed.ok) {
      this.markClosing(agentId, now);
      return { close: { code: "refused" in text ? text.code : CLOSE.invalidMessage, reason: parsed.reason } };
    }
    const over = this.spend(agentId, parsed.message, now);
    return over ? { close: { code: CLOSE.frameBudget, reason: over } } : { message: parsed.message };
  }

  /** True when the socket is being closed for its budget: the pool does no work for its frames. */
  isClosing(agentId: string): boolean {
    return this.#sockets.get(agentId)?.closing === true;
  }

  /** Counts a frame; the reason to close the socket when it is over budget, else null. */
  spend(agentId: string, message: AgentMessage, now: number): OverBudget | null {
    const budget = this.#budget(agentId, now);
    const over = this.#overBudget(budget, message, now);
    if (over) budget.closing = true;
    return over;
  }

  /** Marks a socket the pool is closing for another reason (a bad frame): its later frames are dropped unread too. */
  markClosing(agentId: string, now: number): void {
    this.#budget(agentId, now).closing = true;
  }

  /** Forgets a closed socket. */
  forget(agentId: string): void {
    this.#sockets.delete(agentId);
  }

  #overBudget(budget: SocketBudget, message: AgentMessage, now: number): OverBudget | null {
    switch (message.type) {
      case "hello":
        if (budget.said) return OVER_BUDGET.secondHello;
        budget.said = true;
        budget.reports = reportsBucket(message.concurrency, now);
        return null;
      case "heartbeat":
        return budget.heartbeats.take(now) ? null : OVER_BUDGET.heartbeats;
      default:
        return budget.reports.take(now) ? null : OVER_BUDGET.reports;
    }
  }

  #budget(agentId: string, now: number): SocketBudget {
    let budget = this.#sockets.get(agentId);
    if (!budget) {
      const registered = this.registered(agentId);
      budget = {
        said: registered !== null,
        heartbeats: new TokenBucket(HEARTBEAT_BURST, (HEARTBEAT_HEADROOM * 1000) / this.heartbeatMs, now),
        reports: reportsBucket(registered?.concurrency ?? 1, now),
        closing: false,
      };
      this.#sockets.set(agentId, budget);
    }
    return budget;
  }
}

function reportsBucket(concurrency: number, now: number): TokenBucket {
  return new TokenBucket(reportsBurst(concurrency), concurrency * REPORTS_PER_SLOT_PER_SECOND, now);
}
