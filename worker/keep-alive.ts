/**
 * While a request writes or checks a context, it renews the pool's row for it
 * (pool/uploads.ts) every LIVE_RENEW_MS, so the sweep leaves a live request's
 * work alone and removes a dead one's within LIVE_TTL_MS. Request-scoped
 * timers are fine in a Worker: they end with the request. A renewal the pool
 * answers with "stop" (the row is gone or another request took it over)
 * aborts `signal` with the refusal the request should answer: the work it
 * would go on doing is no longer anyone's.
 */
import type { ApiError } from "./errors";
import { LIVE_RENEW_MS } from "./pool/uploads";

export interface KeepAlive {
  /** Aborted, its reason `stopped`, once the pool says the row is no longer this request's. */
  readonly signal: AbortSignal;
  stop(): void;
}

export function keepAlive(renew: () => Promise<boolean>, stopped: ApiError): KeepAlive {
  const controller = new AbortController();
  const timer = setInterval(() => {
    // A failed renewal is retried at the next tick; two missed in a row leave the row to the sweep, which is right.
    renew().then(
      (alive) => {
        if (alive) return;
        clearInterval(timer);
        controller.abort(stopped);
      },
      (error: unknown) => console.error(`renewing an upload's row: ${String(error)}`),
    );
  }, LIVE_RENEW_MS);
  return { signal: controller.signal, stop: () => clearInterval(timer) };
}
