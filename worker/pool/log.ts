/**
 * A build's log: its entries in SQLite while the build runs, within caps, and
 * one object in R2 once it has ended. Lines of the build's own output and
 * Dockify's events are kept in the order they came; an event keeps its data
 * beside its text, in SQLite and in the archive alike.
 *
 * Entries are numbered from 1 in that order; the number is what live logs use
 * as the SSE id, so it must mean the same entry in SQLite and in the archive.
 * When the caps were passed, the `lines-not-kept` event closes the log as
 * entry kept + 1.
 */
import { renderEntry, type BuildEvent, type LogEntry } from "../../shared/build-log";

/** The most log kept for one job (GitLab keeps 4 MiB); past it lines are counted, not stored, and the log says so. */
export const MAX_LOG_LINES = 20_000;
export const MAX_LOG_BYTES = 4 * 1024 * 1024;

function utf8Bytes(text: string): number {
  return new TextEncoder().encode(text).byteLength;
}

/** Archives are one JSON entry a line (a string, or `{"event": …}`); logs archived before that were plain text. */
const ENTRIES_FORMAT = "entries";

/** Where a finished job's log is archived. */
export function logKey(jobId: string): string {
  return `logs/${jobId}.log`;
}

/** Told of every entry kept and of the end of a log: the live-log followers (followers.ts). */
export interface LogListener {
  /** `entries` were kept as numbers `first`, `first + 1`, … */
  appended(jobId: string, first: number, entries: readonly LogEntry[]): void;
  /** The job has ended and its log is complete (archived, or kept in SQLite when R2 failed). */
  ended(jobId: string): void;
}

/** How far a job's log has come. */
export interface LogProgress {
  finished: boolean;
  /** Entries kept, numbered 1..kept. */
  kept: number;
  /** Entries received, kept or not. */
  received: number;
}

/** The event that closes a log whose caps were passed, or null. */
export function trailerOf({ kept, received }: Pick<LogProgress, "kept" | "received">): BuildEvent | null {
  const count = received - kept;
  return count > 0 ? { type: "lines-not-kept", count, maxLines: MAX_LOG_LINES, maxBytes: MAX_LOG_BYTES } : null;
}

function entryOf(row: { line: string; event: string | null }): LogEntry {
  return row.event === null ? row.line : { event: JSON.parse(row.event) as BuildEvent };
}

/** The entries of an archived log, one a line, read as the object streams. */
async function* archivedEntries(body: ReadableStream<Uint8Array>, entries: boolean): AsyncGenerator<LogEntry> {
  let rest = "";
  const decoder = new TextDecoder();
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    rest += done ? decoder.decode() : decoder.decode(value, { stream: true });
    const lines = rest.split("\n");
    rest = done ? "" : lines.pop()!;
    for (const line of lines) {
      if (line === "" && done) continue;
      yield entries ? (JSON.parse(line) as LogEntry) : line;
    }
    if (done) return;
  }
}

export class BuildLogs {
  private listener: LogListener | null = null;

  constructor(
    private readonly sql: SqlStorage,
    private readonly bucket: R2Bucket,
  ) {}

  listen(listener: LogListener): void {
    this.listener = listener;
  }

  /** Appends entries until the caps are reached; what does not fit is only counted. */
  append(jobId: string, entries: readonly LogEntry[]): void {
    const kept = this.sql.exec<{ lines: number; bytes: number }>(
      "SELECT log_kept_lines AS lines, log_kept_bytes AS bytes FROM jobs WHERE id = ?",
      jobId,
    ).one();
    const first = kept.lines + 1;
    const stored: LogEntry[] = [];
    for (const entry of entries) {
      const line = renderEntry(entry);
      const event = typeof entry === "string" ? null : JSON.stringify(entry.event);
      // An event's data counts as well as its text: both are stored.
      const bytes = utf8Bytes(line) + 1 + (event === null ? 0 : utf8Bytes(event));
      if (kept.lines >= MAX_LOG_LINES || kept.bytes + bytes > MAX_LOG_BYTES) break;
      this.sql.exec("INSERT INTO log_lines (job_id, line, event) VALUES (?, ?, ?)", jobId, line, event);
      stored.push(entry);
      kept.lines += 1;
      kept.bytes += bytes;
    }
    this.sql.exec(
      "UPDATE jobs SET log_lines = log_lines + ?, log_kept_lines = ?, log_kept_bytes = ? WHERE id = ?",
      entries.length, kept.lines, kept.bytes, jobId,
    );
    if (stored.length > 0) this.listener?.appended(jobId, first, stored);
  }

  progress(jobId: string): LogProgress {
    const row = this.sql.exec<{ finished: number | null; kept: number; received: number }>(
      "SELECT finished_at AS finished, log_kept_lines AS kept, log_lines AS received FROM jobs WHERE id = ?",
      jobId,
    ).one();
    return { finished: row.finished !== null, kept: row.kept, received: row.received };
  }

  /** Up to `limit` entries kept in SQLite after the first `after` ones. */
  entriesAfter(jobId: string, after: number, limit: number): LogEntry[] {
    return this.sql
      .exec<{ line: string; event: string | null }>(
        "SELECT line, event FROM log_lines WHERE job_id = ? ORDER BY seq LIMIT ? OFFSET ?",
        jobId, limit, after,
      )
      .toArray()
      .map(entryOf);
  }

  /** The entries of the log kept in SQLite, the closing event included. */
  private entries(jobId: string): LogEntry[] {
    const entries = this.entriesAfter(jobId, 0, -1);
    const trailer = trailerOf(this.progress(jobId));
    return trailer ? [...entries, { event: trailer }] : entries;
  }

  /** The log kept in SQLite as text, ending with a note of how many lines were not kept, if any. */
  text(jobId: string): string {
    return this.entries(jobId).map((entry) => `${renderEntry(entry)}\n`).join("");
  }

  /** The archived log's entries (its closing event included), or null when it is not archived. */
  async archived(jobId: string): Promise<AsyncGenerator<LogEntry> | null> {
    const object = await this.bucket.get(logKey(jobId));
    return object && archivedEntries(object.body, object.customMetadata?.format === ENTRIES_FORMAT);
  }

  /** The whole log as text: from R2 once the job has ended and its log was archived, else from SQLite. */
  async read(job: { id: string; finishedAt: number | null }): Promise<string> {
    const archived = job.finishedAt === null ? null : await this.archived(job.id);
    if (!archived) return this.text(job.id);
    let text = "";
    for await (const entry of archived) text += `${renderEntry(entry)}\n`;
    return text;
  }

  /** Moves an ended job's log to R2 and tells the listener. R2 trouble is logged, not thrown: the log then stays in SQLite and is read from there. */
  async archive(jobId: string): Promise<void> {
    try {
      const body = this.entries(jobId).map((entry) => `${JSON.stringify(entry)}\n`).join("");
      await this.bucket.put(logKey(jobId), body, {
        httpMetadata: { contentType: "application/x-ndjson" },
        customMetadata: { format: ENTRIES_FORMAT },
      });
      this.sql.exec("DELETE FROM log_lines WHERE job_id = ?", jobId);
    } catch (error) {
      console.error(`job ${jobId}: could not archive its log to R2, keeping it in SQLite: ${String(error)}`);
    }
    this.listener?.ended(jobId);
  }
}
