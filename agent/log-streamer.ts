/**
 * Batches a job's output into `log` messages, as Buildkite's log streamer
 * does: one message per flush interval or per full batch, so that a chatty
 * build costs the pool's Durable Object a few requests a second, not one per
 * line. It also paces itself: at most LOG_BATCHES_PER_SECOND batches a second
 * per job, the rate the pool's frame budget is derived from, with a few full
 * batches waiting their turn; output faster than that is counted, not kept,
 * and a `lines-skipped` event says so where it happened. Dockify's own entries (limits, pushing, a failure, …) are events,
 * data rather than sentences, in the same batches and in order with the
 * build's lines. Every line and every text of an event is redacted before it
 * is buffered.
 */
import { mapEntryText, MAX_LOG_LINE_CHARS, renderEvent, type AgentEvent, type AgentLogEntry } from "../shared/build-log";
import { LOG_BATCHES_PER_SECOND, MAX_LOG_LINES_PER_MESSAGE, MAX_MESSAGE_BYTES } from "../shared/protocol";

export const FLUSH_INTERVAL_MS = 250;
/** Batches go out at least this far apart, so one job never sends more than LOG_BATCHES_PER_SECOND a second. */
export const MIN_BATCH_GAP_MS = 1000 / LOG_BATCHES_PER_SECOND;
/**
 * Full batches that may wait for their turn: half a second of output at full
 * rate, at most about 1.3 MB per job, and the largest burst `flush` or `close`
 * sends at once.
 */
export const MAX_WAITING_BATCHES = 5;
/** The most lines a second one job's log can carry, for the `lines-skipped` event. */
export const MAX_LINES_PER_SECOND = LOG_BATCHES_PER_SECOND * MAX_LOG_LINES_PER_MESSAGE;
/** Room for the message envelope (type, job id, attempt) around the entries. */
const ENVELOPE_BYTES = 1024;
const TRUNCATION_MARK = "…";

type EventEntry = { event: AgentEvent };

export interface LogStreamerOptions {
  /** Applied to every line, and to every text of an event, before it is buffered. */
  redact: (text: string) => string;
  /** Receives each batch; the caller wraps it into a `log` message. */
  send: (entries: AgentLogEntry[]) => void;
}

/** Cuts a line to the protocol's limit, marking the cut. */
export function truncateLine(line: string): string {
  return line.length <= MAX_LOG_LINE_CHARS ? line : line.slice(0, MAX_LOG_LINE_CHARS - TRUNCATION_MARK.length) + TRUNCATION_MARK;
}

/**
 * An event whose line would outgrow the limit is cut as a line would be: the excess comes off its longest text, which
 * in the one event that can grow that long (a failure's error) is where its line ends.
 */
function fitEvent(entry: EventEntry): EventEntry {
  const excess = renderEvent(entry.event).length - MAX_LOG_LINE_CHARS;
  if (excess <= 0) return entry;
  const texts = Object.entries(entry.event).flatMap(([key, value]) => (key !== "type" && typeof value === "string" ? [value] : []));
  const longest = texts.reduce((a, b) => (b.length > a.length ? b : a), "");
  const keep = Math.max(0, longest.length - excess - TRUNCATION_MARK.length);
  return mapEntryText(entry, (text) => (text === longest ? text.slice(0, keep) + TRUNCATION_MARK : text));
}

/** The bytes an entry adds to the JSON message: encoded, plus a comma. */
function encodedBytes(entry: AgentLogEntry): number {
  return Buffer.byteLength(JSON.stringify(entry)) + 1;
}

export class LogStreamer {
  readonly #redact: (text: string) => string;
  readonly #send: (entries: AgentLogEntry[]) => void;
  /** Text after the last newline: Docker splits a line across stream events. */
  #partial = "";
  /** The batch being filled, its encoded size, and when its first entry came. */
  #entries: AgentLogEntry[] = [];
  #bytes = 0;
  #firstAt = 0;
  /** Full batches waiting for their turn, oldest first. */
  #waiting: AgentLogEntry[][] = [];
  #lastSentAt = Number.NEGATIVE_INFINITY;
  /** Lines not kept since the last one that was: output came faster than the pace. */
  #skipped = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: LogStreamerOptions) {
    this.#redact = options.redact;
    this.#send = options.send;
  }

  /** Adds raw output; complete lines are queued, the rest waits for its newline. */
  write(text: string): void {
    const pieces = (this.#partial + text).split("\n");
    this.#partial = pieces.pop() ?? "";
    for (const piece of pieces) this.#add(piece);
    // A program that never prints a newline must not grow the buffer without bound.
    this.#cutPartial(2 * MAX_LOG_LINE_CHARS);
  }

  /** Adds one of Dockify's events after everything written before it; an unfinished line ends there. */
  event(event: AgentEvent): void {
    this.#cutPartial(0);
    this.#queue(fitEvent(mapEntryText({ event }, this.#redact)));
  }

  /** Sends everything buffered now, unpaced: at most MAX_WAITING_BATCHES + 1 batches. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#seal();
    for (const batch of this.#waiting.splice(0)) this.#sendBatch(batch);
  }

  /** Sends the unfinished last line and everything buffered; call once, before the job's result. */
  close(): void {
    this.#cutPartial(0);
    this.#noteSkipped();
    this.flush();
  }

  /** Moves the unfinished line out in whole-line pieces until at most `keep` characters remain. */
  #cutPartial(keep: number): void {
    while (this.#partial.length > keep) {
      // Redacting the whole tail before cutting keeps a secret that straddles the cut from leaving in two halves.
      const redacted = this.#redact(this.#partial);
      this.#add(redacted.slice(0, MAX_LOG_LINE_CHARS));
      this.#partial = redacted.slice(MAX_LOG_LINE_CHARS);
    }
  }

  #add(raw: string): void {
    // Progress output redraws one terminal line with carriage returns: keep what a terminal would show.
    const shown = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    this.#queue(truncateLine(this.#redact(shown.slice(shown.lastIndexOf("\r") + 1))));
  }

  #queue(entry: AgentLogEntry): void {
    if (typeof entry === "string") {
      // With every batch taken, a line is counted, not kept; an event (a handful per job) always is.
      if (this.#waiting.length >= MAX_WAITING_BATCHES && !this.#fits(encodedBytes(entry))) {
        this.#skipped += 1;
        return;
      }
      this.#noteSkipped();
    }
    this.#append(entry);
  }

  #fits(bytes: number): boolean {
    return this.#entries.length < MAX_LOG_LINES_PER_MESSAGE && this.#bytes + bytes <= MAX_MESSAGE_BYTES - ENVELOPE_BYTES;
  }

  #append(entry: AgentLogEntry): void {
    const bytes = encodedBytes(entry);
    if (!this.#fits(bytes)) this.#seal();
    if (this.#entries.length === 0) this.#firstAt = Date.now();
    this.#entries.push(entry);
    this.#bytes += bytes;
    this.#pump();
  }

  /** After lines were skipped, the event saying how many stands where they were. */
  #noteSkipped(): void {
    if (this.#skipped === 0) return;
    const count = this.#skipped;
    this.#skipped = 0;
    this.#append({ event: { type: "lines-skipped", count, maxLinesPerSecond: MAX_LINES_PER_SECOND } });
  }

  /** The batch being filled joins the waiting ones. */
  #seal(): void {
    if (this.#entries.length === 0) return;
    this.#waiting.push(this.#entries);
    this.#entries = [];
    this.#bytes = 0;
  }

  #sendBatch(batch: AgentLogEntry[]): void {
    this.#lastSentAt = Date.now();
    this.#send(batch);
  }

  /** Sends a waiting batch if its turn has come, and sets the timer for the next turn or for the partial batch. */
  #pump(): void {
    const now = Date.now();
    const nextTurn = this.#lastSentAt + MIN_BATCH_GAP_MS;
    const full = this.#entries.length >= MAX_LOG_LINES_PER_MESSAGE;
    if ((full && this.#waiting.length < MAX_WAITING_BATCHES) || (this.#waiting.length === 0 && this.#entries.length > 0 && now >= this.#firstAt + FLUSH_INTERVAL_MS)) {
      this.#seal();
    }
    if (this.#waiting.length > 0 && now >= nextTurn) {
      this.#sendBatch(this.#waiting.shift()!);
      // A full batch that had no place to wait takes the one just freed.
      if (this.#entries.length >= MAX_LOG_LINES_PER_MESSAGE) this.#seal();
    }
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const due =
      this.#waiting.length > 0
        ? this.#lastSentAt + MIN_BATCH_GAP_MS
        : this.#entries.length > 0
          ? Math.max(this.#firstAt + FLUSH_INTERVAL_MS, this.#lastSentAt + MIN_BATCH_GAP_MS)
          : undefined;
    if (due !== undefined) this.#timer = setTimeout(() => this.#pump(), Math.max(0, due - now));
  }
}
