/**
 * A live log's messages as Server-Sent Events text, the shapes of
 * shared/api.ts (LOG_STREAM_EVENTS): a line's text as it is, everything else
 * as JSON. Every message has an id, the number of a log entry.
 */
import { EVENT_STREAM_TYPE, LOG_STREAM_EVENTS, type Build, type LogStreamCutoff } from "../../shared/api";
import type { LogEntry } from "../../shared/build-log";

/** The headers of a live-log response: no cache, and no proxy buffering that would hold batches back. */
export const SSE_HEADERS = {
  "Content-Type": `${EVENT_STREAM_TYPE}; charset=utf-8`,
  "Cache-Control": "no-store",
  "X-Accel-Buffering": "no",
} as const;

/**
 * One SSE message. Data is split at line breaks into `data:` fields, which the
 * client joins with "\n": a bare "\r" would otherwise end a field early.
 */
export function sseMessage(id: number, event: string, data: string): string {
  const fields = data.split(/\r\n|\r|\n/).map((line) => `data: ${line}\n`);
  return `id: ${id}\nevent: ${event}\n${fields.join("")}\n`;
}

export function entryMessage(id: number, entry: LogEntry): string {
  return typeof entry === "string"
    ? sseMessage(id, LOG_STREAM_EVENTS.line, entry)
    : sseMessage(id, LOG_STREAM_EVENTS.event, JSON.stringify(entry.event));
}

export function endMessage(id: number, record: Build): string {
  return sseMessage(id, LOG_STREAM_EVENTS.end, JSON.stringify(record));
}

export function cutoffMessage(id: number, reason: string): string {
  const data: LogStreamCutoff = { reason, last_event_id: id };
  return sseMessage(id, LOG_STREAM_EVENTS.cutoff, JSON.stringify(data));
}
