/**
 * The wall-clock limit on one job (DOCKIFY_AGENT_BUILD_TIMEOUT_SECONDS). Its
 * signal aborts Docker's request when the pool cancels the job or when the
 * limit passes, whichever comes first, exactly as a cancel does: the daemon
 * stops the build or push once the connection closes. `exceeded` tells the two
 * apart, so a timeout is reported as a failure and a cancel as canceled.
 */

class TimeLimitExceeded extends Error {}

export class JobTimeLimit {
  /** Aborts on cancel or timeout; its reason is whichever came first. */
  readonly signal: AbortSignal;
  readonly #timer: NodeJS.Timeout;

  constructor(
    canceled: AbortSignal,
    readonly seconds: number,
  ) {
    const timeout = new AbortController();
    this.#timer = setTimeout(() => timeout.abort(new TimeLimitExceeded(this.message)), seconds * 1000);
    this.signal = AbortSignal.any([canceled, timeout.signal]);
  }

  /** True when the limit, not a cancel, stopped the job. */
  get exceeded(): boolean {
    return this.signal.reason instanceof TimeLimitExceeded;
  }

  get message(): string {
    return `the build exceeded the agent's time limit of ${this.seconds} s (DOCKIFY_AGENT_BUILD_TIMEOUT_SECONDS)`;
  }

  /** Stops the timer once the job's work is done, so no timer outlives its job. */
  clear(): void {
    clearTimeout(this.#timer);
  }
}
