/** Waiting for a server to answer over HTTP, e.g. a registry or wrangler dev that was just started. */
import type { ManagedProcess } from "./managed-process";
import { notYet, poll } from "./poll";

/** One request may hang (a server half up); it gets this long before the next try. */
const TRY_TIMEOUT_MS = 5_000;

export interface WaitForUrlOptions {
  /** 30 s by default. */
  timeoutMs?: number;
  /** Which HTTP status means ready; any answer by default. */
  accept?: (status: number) => boolean;
  /** Stop waiting (with its log tail) as soon as this process exits. */
  process?: ManagedProcess;
  headers?: Record<string, string>;
}

/** Polls `url` with GET every 100 ms until it answers with an accepted status; returns that response. */
export function waitForUrl(url: string, options: WaitForUrlOptions = {}): Promise<Response> {
  const { timeoutMs = 30_000, accept = () => true, process: owner, headers } = options;
  return poll(
    `${url} to answer`,
    async (deadline) => {
      const response = await fetch(url, { headers, signal: AbortSignal.any([deadline, AbortSignal.timeout(TRY_TIMEOUT_MS)]) });
      if (accept(response.status)) return response;
      await response.body?.cancel();
      return notYet(`HTTP ${response.status}`);
    },
    { timeoutMs, intervalMs: 100, process: owner },
  );
}
