/**
 * Live-log followers: each is an SSE stream of one build's log, fed by the
 * pool object, so many followers cost the agent nothing (it sends each batch
 * once, and the pool fans it out).
 *
 * A follower first reads what is stored after its Last-Event-ID, in chunks,
 * only as fast as its client reads (the stream pulls them): from SQLite while
 * the build runs, from the R2 archive once it has ended. Caught up, it is
 * live: each batch the agent sends is pushed to it as it is appended. A live
 * follower whose client reads slower than the build logs is cut off with a
 * `cutoff` message once its queue passes MAX_FOLLOWER_QUEUE_BYTES, so neither
 * the build nor the object's memory waits for it; it reconnects with
 * Last-Event-ID and reads the rest from storage. The stream ends with `end`
 * and the build's final record. While nothing happens, live followers get an
 * SSE comment every KEEP_ALIVE_MS, so proxies do not close a quiet stream.
 */
import type { Build } from "../../shared/api";
import type { LogEntry } from "../../shared/build-log";
import { trailerOf, type BuildLogs, type LogListener } from "./log";

/** What followers read of the logs. */
export type StoredLogs = Pick<BuildLogs, "progress" | "entriesAfter" | "archived">;
import { cutoffMessage, endMessage, entryMessage } from "./sse";

/** What one follower may have queued and unread: a few of the agent's largest batches. */
export const MAX_FOLLOWER_QUEUE_BYTES = 1024 * 1024;
/** Followers one pool serves at once: their queues together stay well inside the object's 128 MB. */
export const MAX_FOLLOWERS = 64;
/** Well under the idle timeouts of common proxies (60 s for nginx); the object is awake anyway while a stream is open. */
export const KEEP_ALIVE_MS = 20_000;
/** An SSE comment: clients ignore it, connections see bytes. */
const KEEP_ALIVE = ": keep-alive\n\n";
/** Entries read from storage per pull while catching up. */
const CHUNK_ENTRIES = 500;

export const CUTOFF_REASON = `this client read the live log more slowly than the build wrote it (more than ${MAX_FOLLOWER_QUEUE_BYTES} bytes unread); reconnect with Last-Event-ID to go on`;

interface Follower {
  jobId: string;
  /** The number of the last entry sent. */
  sent: number;
  /** Reading stored entries (as the client pulls), live (pushed as appended), or over. */
  mode: "catching-up" | "live" | "over";
  controller: ReadableStreamDefaultController<Uint8Array>;
  /** The archive being read, once the build has ended and SQLite holds no more. */
  archive?: AsyncGenerator<LogEntry> | null;
}

const encoder = new TextEncoder();

export class Followers implements LogListener {
  readonly #followers = new Set<Follower>();
  /** Runs only while someone follows. */
  #keepAlive: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly logs: StoredLogs,
    /** The build's record for the `end` message. */
    private readonly record: (jobId: string) => Build,
    private readonly keepAliveMs = KEEP_ALIVE_MS,
  ) {}

  get count(): number {
    return this.#followers.size;
  }

  /** A stream of the job's log after entry `after`, or null when the pool serves MAX_FOLLOWERS already. */
  follow(jobId: string, after: number): ReadableStream<Uint8Array> | null {
    if (this.#followers.size >= MAX_FOLLOWERS) return null;
    let follower: Follower;
    return new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          follower = { jobId, sent: after, mode: "catching-up", controller };
          this.#followers.add(follower);
          this.#keepAlive ??= setInterval(() => this.#sendKeepAlive(), this.keepAliveMs);
        },
        pull: () => this.#catchUp(follower),
        cancel: () => this.#drop(follower),
      },
      new ByteLengthQueuingStrategy({ highWaterMark: MAX_FOLLOWER_QUEUE_BYTES }),
    );
  }

  appended(jobId: string, first: number, entries: readonly LogEntry[]): void {
    let encoded: Map<number, string> | undefined;
    for (const follower of this.#followers) {
      if (follower.jobId !== jobId || follower.mode !== "live") continue;
      // Encoded once for every follower of the batch.
      encoded ??= new Map(entries.map((entry, index) => [first + index, entryMessage(first + index, entry)]));
      const text = [...encoded].filter(([id]) => id > follower.sent).map(([, message]) => message).join("");
      if (text === "") continue;
      follower.controller.enqueue(encoder.encode(text));
      follower.sent = first + entries.length - 1;
      if ((follower.controller.desiredSize ?? 0) < 0) this.#end(follower, cutoffMessage(follower.sent, CUTOFF_REASON));
    }
  }

  ended(jobId: string): void {
    for (const follower of this.#followers) {
      // One catching up reads on from storage, where the rest of the log now is.
      if (follower.jobId === jobId && follower.mode === "live") this.#finish(follower);
    }
  }

  /** Sends the next stored entries, or goes live once caught up, or ends after the last. Runs when the client has read. */
  async #catchUp(follower: Follower): Promise<void> {
    if (follower.mode !== "catching-up") return;
    const progress = this.logs.progress(follower.jobId);
    if (follower.archive === undefined) {
      const stored = this.logs.entriesAfter(follower.jobId, follower.sent, CHUNK_ENTRIES);
      if (stored.length > 0) return this.#send(follower, stored);
      if (!progress.finished) {
        follower.mode = "live";
        return;
      }
      follower.archive = await this.logs.archived(follower.jobId);
      if (follower.archive) {
        // Numbering starts over in the archive: skip what was already sent.
        for (let skipped = 0; skipped < follower.sent; skipped++) if ((await follower.archive.next()).done) break;
      }
    }
    if (follower.archive) {
      const read: LogEntry[] = [];
      while (read.length < CHUNK_ENTRIES) {
        const next = await follower.archive.next();
        if (next.done) break;
        read.push(next.value);
      }
      if (read.length > 0) return this.#send(follower, read);
      return this.#end(follower, endMessage(follower.sent, this.record(follower.jobId)));
    }
    // Ended, and the log stayed in SQLite (R2 failed): its closing event is not stored there.
    return this.#finish(follower);
  }

  #send(follower: Follower, entries: readonly LogEntry[]): void {
    const text = entries.map((entry, index) => entryMessage(follower.sent + index + 1, entry)).join("");
    follower.controller.enqueue(encoder.encode(text));
    follower.sent += entries.length;
  }

  /** The closing event, if the log passed its caps and it was not sent, then `end`. */
  #finish(follower: Follower): void {
    const progress = this.logs.progress(follower.jobId);
    const trailer = trailerOf(progress);
    if (trailer && follower.sent <= progress.kept) {
      follower.sent = progress.kept;
      this.#send(follower, [{ event: trailer }]);
    }
    this.#end(follower, endMessage(follower.sent, this.record(follower.jobId)));
  }

  #end(follower: Follower, last: string): void {
    follower.controller.enqueue(encoder.encode(last));
    follower.controller.close();
    this.#drop(follower);
  }

  #drop(follower: Follower): void {
    follower.mode = "over";
    this.#followers.delete(follower);
    void follower.archive?.return(undefined);
    if (this.#followers.size === 0) {
      clearInterval(this.#keepAlive);
      this.#keepAlive = undefined;
    }
  }

  /** A comment to each live follower that has room for it; one that has not is being cut off by its next batch anyway. */
  #sendKeepAlive(): void {
    for (const follower of this.#followers) {
      if (follower.mode === "live" && (follower.controller.desiredSize ?? 0) > 0) follower.controller.enqueue(encoder.encode(KEEP_ALIVE));
    }
  }
}
