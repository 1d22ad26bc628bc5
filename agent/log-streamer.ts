/**
 * Batches a job's output into `log` messages, as Buildkite's log streamer
 * does: one message per flush interval or per full batch, so that a chatty
 * build costs the pool's Durable Object a few requests a second, not one per
 * line. Dockify's own entries (limits, pushing, a failure, …) are events,
 * data rather than sentences, in the same batches and in order with the
 * build's lines. Every line and every text of an event is redacted before it
 * is buffered.
 */
import { mapEntryText, MAX_LOG_LINE_CHARS, renderEvent, type AgentEvent, type AgentLogEntry } from "../shared/build-log";
import { MAX_LOG_LINES_PER_MESSAGE, MAX_MESSAGE_BYTES } from "../shared/protocol";

export const FLUSH_INTERVAL_MS = 250;
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
  #entries: AgentLogEntry[] = [];
  #bytes = 0;
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

  /** Sends everything buffered now. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#entries.length === 0) return;
    const entries = this.#entries;
    this.#entries = [];
    this.#bytes = 0;
    this.#send(entries);
  }

  /** Sends the unfinished last line and everything buffered; call once, before the job's result. */
  close(): void {
    this.#cutPartial(0);
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
    const bytes = encodedBytes(entry);
    if (this.#bytes + bytes > MAX_MESSAGE_BYTES - ENVELOPE_BYTES) this.flush();
    this.#entries.push(entry);
    this.#bytes += bytes;
    if (this.#entries.length >= MAX_LOG_LINES_PER_MESSAGE) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), FLUSH_INTERVAL_MS);
  }
}
