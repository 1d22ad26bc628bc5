/**
 * Reconnect delays, as partysocket's ws.ts does them: grow by a factor from a
 * short first delay up to a cap, with jitter so that a fleet of agents does
 * not reconnect to a restarted pool in one burst.
 */

export interface BackoffOptions {
  initialMs: number;
  factor: number;
  maxMs: number;
  /** Fraction (0..1) of the delay that is randomised away. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 1_000, factor: 1.6, maxMs: 10_000, jitter: 0.3 };

/** The delay before reconnect number `retry` (0 for the first retry after a drop). */
export function reconnectDelay(retry: number, options: BackoffOptions, random: () => number = Math.random): number {
  const grown = Math.min(options.maxMs, options.initialMs * options.factor ** retry);
  // Jitter only shortens the delay, so the cap holds.
  return Math.round(grown * (1 - options.jitter * random()));
}
