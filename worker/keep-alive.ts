/**
 * While a request writes or checks a context, it renews the pool's row for it
 * (pool/uploads.ts) every LIVE_RENEW_MS, so the sweep leaves a live request's
 * work alone and removes a dead one's within LIVE_TTL_MS. Request-scoped
 * timers are fine in a Worker: they end with the request. A renewal the pool
 * refuses (the row is gone or another request took it over, or what was
 * written passes the tenant's byte limit) aborts `signal` with that refusal,
 * which the request then answers: the work it would go on doing is no
 * longer anyone's.
 */
import { LIVE_RENEW_MS, type Result } from "./pool/uploads";
import { refusal } from "./uploads/refusal";

export interface KeepAlive {
  /** Aborted, its reason the pool's refusal as an ApiError, once the pool refuses a renewal. */
  readonly signal: AbortSignal;
  stop(): void;
}

export function keepAlive(renew: () => Promise<Result<null>>): KeepAlive {
  const controller = new AbortController();
  const timer = setInterval(() => {
    // A failed renewal is retried at the next tick; two missed in a row leave the row to the sweep, which is right.
    renew().then(
      (renewed) => {
        if (!("refused" in renewed)) return;
        clearInterval(timer);
        controller.abort(refusal(renewed.refused));
      },
      (error: unknown) => console.error(`renewing an upload's row: ${String(error)}`),
    );
  }, LIVE_RENEW_MS);
  return { signal: controller.signal, stop: () => clearInterval(timer) };
}
