/**
 * The harness's one way of waiting for something nobody announces (a build's
 * state, a server coming up, a container going away): ask again every
 * `intervalMs` until the answer comes or `timeoutMs` runs out, and then say
 * what was last seen. A probe that throws counts as "not yet" (the Worker may
 * be restarting); its last error is in the timeout's message.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { ManagedProcess } from "./managed-process";

export interface PollOptions {
  /** 30 s by default. */
  timeoutMs?: number;
  /** 200 ms by default. */
  intervalMs?: number;
  /** Give up at once, with its log tail, when this process exits: what it was to serve will never come. */
  process?: ManagedProcess;
}

/** A probe's "not yet", carrying what it saw instead, for the message at the deadline. */
export class NotYet {
  constructor(readonly seen: string) {}
}

export function notYet(seen: string): NotYet {
  return new NotYet(seen);
}

/** A probe's "never": what it saw means the answer will not come (a 404, say), so waiting on is pointless. */
export class GiveUp {
  constructor(readonly seen: string) {}
}

export function giveUp(seen: string): GiveUp {
  return new GiveUp(seen);
}

/**
 * Returns the answer, or undefined or `notYet(seen)` to be asked again, or `giveUp(seen)` to stop at once.
 * `deadline` aborts when the time is up, for a request that should not outlive the wait.
 */
export type Probe<T> = (deadline: AbortSignal) => Promise<T | NotYet | GiveUp | undefined> | T | NotYet | GiveUp | undefined;

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // fetch says only "fetch failed"; the reason (ECONNREFUSED, a timeout) is its cause.
  return error.cause === undefined ? error.message : `${error.message} (${String(error.cause)})`;
}

class GaveUp extends Error {}

/** Calls `probe` until it returns an answer and returns that; throws naming `what` at the deadline or when `process` exits. */
export async function poll<T>(what: string, probe: Probe<T>, options: PollOptions = {}): Promise<T> {
  const { timeoutMs = 30_000, intervalMs = 200, process: watched } = options;
  const deadline = Date.now() + timeoutMs;
  const signal = AbortSignal.timeout(timeoutMs);
  let seen: string | undefined;
  let failed: string | undefined;
  const last = () =>
    [seen === undefined ? "no answer" : `last answer: ${seen}`, failed === undefined ? [] : `last error: ${failed}`].flat().join("; ");
  for (;;) {
    if (watched && !watched.running) {
      await watched.closed; // so the tail holds its last words
      throw new Error(`${what}: ${watched.name} ${watched.describeExit()} while waiting (${last()})\n${watched.tail()}`);
    }
    try {
      const answer = await probe(signal);
      if (answer instanceof GiveUp) throw new GaveUp(`${what}: ${answer.seen}`);
      if (answer instanceof NotYet) seen = answer.seen;
      else if (answer !== undefined) return answer;
    } catch (error) {
      if (error instanceof GaveUp) throw error;
      failed = describeError(error);
    }
    if (Date.now() + intervalMs > deadline) {
      throw new Error(`${what}: not within ${timeoutMs} ms (${last()})${watched ? `\n${watched.tail()}` : ""}`);
    }
    await sleep(intervalMs);
  }
}
