/**
 * A build's log: its entries in SQLite while the build runs, within caps, and
 * one text object in R2 once it has ended. Lines of the build's own output and
 * Dockify's events are kept in the order they came; while the build runs, an
 * event keeps its data beside its text (the archive keeps the text).
 */
import { renderEntry, renderEvent, type LogEntry } from "../../shared/build-log";

/** The most log kept for one job (GitLab keeps 4 MiB); past it lines are counted, not stored, and the log says so. */
export const MAX_LOG_LINES = 20_000;
export const MAX_LOG_BYTES = 4 * 1024 * 1024;

function utf8Bytes(text: string): number {
  return new TextEncoder().encode(text).byteLength;
}

/** Where a finished job's log is archived. */
export function logKey(jobId: string): string {
  return `logs/${jobId}.log`;
}

export class BuildLogs {
  constructor(
    private readonly sql: SqlStorage,
    private readonly bucket: R2Bucket,
  ) {}

  /** Appends entries until the caps are reached; what does not fit is only counted. */
  append(jobId: string, entries: readonly LogEntry[]): void {
    const kept = this.sql.exec<{ lines: number; bytes: number }>(
      "SELECT log_kept_lines AS lines, log_kept_bytes AS bytes FROM jobs WHERE id = ?",
      jobId,
    ).one();
    for (const entry of entries) {
      const line = renderEntry(entry);
      const event = typeof entry === "string" ? null : JSON.stringify(entry.event);
      // An event's data counts as well as its text: both are stored.
      const bytes = utf8Bytes(line) + 1 + (event === null ? 0 : utf8Bytes(event));
      if (kept.lines >= MAX_LOG_LINES || kept.bytes + bytes > MAX_LOG_BYTES) break;
      this.sql.exec("INSERT INTO log_lines (job_id, line, event) VALUES (?, ?, ?)", jobId, line, event);
      kept.lines += 1;
      kept.bytes += bytes;
    }
    this.sql.exec(
      "UPDATE jobs SET log_lines = log_lines + ?, log_kept_lines = ?, log_kept_bytes = ? WHERE id = ?",
      entries.length, kept.lines, kept.bytes, jobId,
    );
  }

  /** The log kept in SQLite as text, ending with a note of how many lines were not kept, if any. */
  text(jobId: string): string {
    const lines = this.sql.exec<{ line: string }>("SELECT line FROM log_lines WHERE job_id = ? ORDER BY seq", jobId).toArray();
    const { received, kept } = this.sql.exec<{ received: number; kept: number }>(
      "SELECT log_lines AS received, log_kept_lines AS kept FROM jobs WHERE id = ?",
      jobId,
    ).one();
    const text = lines.map(({ line }) => `${line}\n`).join("");
    const dropped = received - kept;
    if (dropped <= 0) return text;
    return `${text}${renderEvent({ type: "lines-not-kept", count: dropped, maxLines: MAX_LOG_LINES, maxBytes: MAX_LOG_BYTES })}\n`;
  }

  /** The whole log: from R2 once the job has ended and its log was archived, else from SQLite. */
  async read(job: { id: string; finishedAt: number | null }): Promise<string> {
    if (job.finishedAt === null) return this.text(job.id);
    const archived = await this.bucket.get(logKey(job.id));
    return archived ? archived.text() : this.text(job.id);
  }

  /** Moves an ended job's log to R2. R2 trouble is logged, not thrown: the log then stays in SQLite and is read from there. */
  async archive(jobId: string): Promise<void> {
    try {
      await this.bucket.put(logKey(jobId), this.text(jobId));
      this.sql.exec("DELETE FROM log_lines WHERE job_id = ?", jobId);
    } catch (error) {
      console.error(`job ${jobId}: could not archive its log to R2, keeping it in SQLite: ${String(error)}`);
    }
  }
}
