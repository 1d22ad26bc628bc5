/**
 * While a request writes or checks a context, it renews the pool's row for it
 * (pool/uploads.ts) every LIVE_RENEW_MS, so the sweep leaves a live request's
 * work alone and removes a dead one's within LIVE_TTL_MS. Request-scoped
 * timers are fine in a Worker: they end with the request.
 */
import { LIVE_RENEW_MS } from "./pool/uploads";

export interface KeepAlive {
  stop(): void;
}

export function keepAlive(renew: () => Promise<unknown>): KeepAlive {
  const timer = setInterval(() => {
    // A failed renewal is retried at the next tick; two missed in a row leave the row to the sweep, which is right.
    renew().catch((error) => console.error(`renewing an upload's row: ${String(error)}`));
  }, LIVE_RENEW_MS);
  return { stop: () => clearInterval(timer) };
}
