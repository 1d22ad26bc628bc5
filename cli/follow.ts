/**
 * Following a build's live log to its end: the SSE stream of
 * `GET /v1/builds/{id}/logs`, reconnected with `Last-Event-ID` whenever it
 * breaks off or the Worker cuts a slow reader off, so every entry is seen
 * exactly once and in order whatever the network does. Gives the final record.
 */
import type { LogStreamMessage } from "../shared/api";
import { LOG_STREAM_EVENTS } from "../shared/api";
import { renderEvent } from "../shared/render-event";
import { ApiRefusal, DockifyClient, NetworkError } from "./client";
import { CliError } from "./errors";

/** Reconnects after a broken connection: 1 s, doubling, at most 10 s apart; a Worker gone this long is reported. */
const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 10_000;
const GIVE_UP_AFTER_MS = 120_000;

export interface FollowOptions {
  /** Each line or event, in order, once. */
  onEntry: (message: Extract<LogStreamMessage, { event: "line" | "event" }>) => void;
  /** Told when the connection broke and is being made again. */
  onReconnect?: (reason: string) => void;
  /** Resume after this entry. */
  lastEventId?: number;
  signal?: AbortSignal;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The text of an entry as the plain log shows it. */
export function entryText(message: Extract<LogStreamMessage, { event: "line" | "event" }>): string {
  return message.event === LOG_STREAM_EVENTS.line ? message.data : renderEvent(message.data);
}

export type EndMessage = Extract<LogStreamMessage, { event: "end" }>;

/** Follows to the `end` message and returns it (its data is the final record); undefined when `signal` aborted first. */
export async function followLog(client: DockifyClient, id: string, options: FollowOptions): Promise<EndMessage | undefined> {
  const sleep = options.sleep ?? defaultSleep;
  let lastEventId = options.lastEventId;
  let brokenSince: number | undefined;
  let delay = RETRY_FIRST_MS;
  for (;;) {
    let reason: string;
    let cutOff = false;
    try {
      for await (const message of client.logStream(id, lastEventId, options.signal)) {
        brokenSince = undefined;
        delay = RETRY_FIRST_MS;
        if (message.event === LOG_STREAM_EVENTS.end) return message;
        if (message.event === LOG_STREAM_EVENTS.cutoff) {
          // This reader fell behind the build: reading on from where it stopped is the remedy, at once.
          cutOff = true;
          break;
        }
        // Entries at or before the last one seen cannot come again after a resume; the check keeps "exactly once" local too.
        if (lastEventId !== undefined && message.id <= lastEventId) continue;
        lastEventId = message.id;
        options.onEntry(message);
      }
      if (options.signal?.aborted) return undefined;
      if (cutOff) continue;
      reason = "the Worker closed the live log before the build ended";
    } catch (error) {
      if (options.signal?.aborted) return undefined;
      // A refusal (unknown build, bad token) will not change by asking again.
      if (error instanceof ApiRefusal && error.status !== 503 && error.status !== 429) throw error;
      if (!(error instanceof NetworkError) && !(error instanceof ApiRefusal)) throw error;
      reason = error.message;
    }
    brokenSince ??= Date.now();
    if (Date.now() - brokenSince > GIVE_UP_AFTER_MS) throw new CliError(`gave up following the log of ${id}: ${reason}`);
    options.onReconnect?.(reason);
    await sleep(delay);
    delay = Math.min(delay * 2, RETRY_MAX_MS);
  }
}
