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

/** What one follower may have queued and unread: two of the agent's largest batches (a message is at most 256 KiB). */
export const MAX_FOLLOWER_QUEUE_BYTES = 512 * 1024;
/**
 * Followers one pool serves at once. Each holds at most its queue plus one batch or one chunk from storage (about
 * 768 KiB), so together they stay under 48 MiB of the object's 128 MB.
 */
export const MAX_FOLLOWERS = 64;
/** Of those, one tenant's: so that one tenant's followers cannot take every slot of a pool others build in too. */
export const MAX_FOLLOWERS_PER_TENANT = 16;
/**
 * A follower catching up reads only as its client reads; one whose client reads nothing for this long gives its
 * slot back (it reconnects with Last-Event-ID, as after any cut-off).
 */
export const STALLED_AFTER_MS = 60_000;
/** Well under the idle timeouts of common proxies (60 s for nginx); the object is awake anyway while a stream is open. */
export const KEEP_ALIVE_MS = 20_000;
/** An SSE comment: clients ignore it, connections see bytes. */
const KEEP_ALIVE = ": keep-alive\n\n";
/** Entries read from storage per pull while catching up: at most 64 lines of 4 KiB, 256 KiB, beyond the queue. */
const CHUNK_ENTRIES = 64;

export const CUTOFF_REASON = `this client read the live log more slowly than the build wrote it (more than ${MAX_FOLLOWER_QUEUE_BYTES} bytes unread); reconnect with Last-Event-ID to go on`;
export const STALLED_REASON = `this client read nothing for ${STALLED_AFTER_MS / 1000} s; reconnect with Last-Event-ID to go on`;

interface Follower {
  jobId: string;
  tenant: string;
  /** When its client last read (a pull), for cutting off one that stopped reading while catching up. */
  readAt: number;
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
    private readonly now: () => number = Date.now,
  ) {}

  get count(): number {
    return this.#followers.size;
  }

  /**
   * A stream of the job's log after entry `after` for `tenant`, or why not: the pool serves MAX_FOLLOWERS already,
   * or this tenant MAX_FOLLOWERS_PER_TENANT.
   */
  follow(jobId: string, after: number, tenant: string): ReadableStream<Uint8Array> | { refused: string } {
    if (this.#followers.size >= MAX_FOLLOWERS) {
      return { refused: `this pool serves ${MAX_FOLLOWERS} live logs at once already; try again later, or read the log without following it` };
    }
    if ([...this.#followers].filter((other) => other.tenant === tenant).length >= MAX_FOLLOWERS_PER_TENANT) {
      return { refused: `you follow ${MAX_FOLLOWERS_PER_TENANT} live logs at once already, the most one tenant may; close one, or read the log without following it` };
    }
    let follower: Follower;
    return new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          follower = { jobId, tenant, readAt: this.now(), sent: after, mode: "catching-up", controller };
          this.#followers.add(follower);
          this.#keepAlive ??= setInterval(() => this.#tick(), this.keepAliveMs);
        },
        pull: async () => {
          follower.readAt = this.now();
          try {
            await this.#catchUp(follower);
          } catch (error) {
            // Storage failed under it (R2, a damaged archive line): the stream errors and the slot is given back.
            this.#drop(follower);
            throw error;
          }
        },
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

  /**
   * Every KEEP_ALIVE_MS: a comment to each live follower that has room for it (one that has not is cut off by its
   * next batch anyway), and a cut-off for each follower catching up whose client has read nothing for STALLED_AFTER_MS.
   */
  #tick(): void {
    const now = this.now();
    for (const follower of this.#followers) {
      if (follower.mode === "live" && (follower.controller.desiredSize ?? 0) > 0) follower.controller.enqueue(encoder.encode(KEEP_ALIVE));
      if (follower.mode === "catching-up" && now - follower.readAt > STALLED_AFTER_MS) {
        this.#end(follower, cutoffMessage(follower.sent, STALLED_REASON));
      }
    }
  }
}
