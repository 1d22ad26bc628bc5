/**
 * Batches a job's output into `log` messages, as Buildkite's log streamer
 * does: one message per flush interval or per full batch, so that a chatty
 * build costs the pool's Durable Object a few requests a second, not one per
 * line. Every line is redacted before it is buffered.
 */
import { MAX_LOG_LINE_CHARS } from "../shared/build-log";
import { MAX_LOG_LINES_PER_MESSAGE, MAX_MESSAGE_BYTES } from "../shared/protocol";

export const FLUSH_INTERVAL_MS = 250;
/** Room for the message envelope (type, job id, attempt) around the lines. */
const ENVELOPE_BYTES = 1024;
const TRUNCATION_MARK = "…";

export interface LogStreamerOptions {
  /** Applied to every line before it is buffered. */
  redact: (text: string) => string;
  /** Receives each batch; the caller wraps it into a `log` message. */
  send: (lines: string[]) => void;
}

/** Cuts a line to the protocol's limit, marking the cut. */
export function truncateLine(line: string): string {
  return line.length <= MAX_LOG_LINE_CHARS ? line : line.slice(0, MAX_LOG_LINE_CHARS - TRUNCATION_MARK.length) + TRUNCATION_MARK;
}

/** The bytes a line adds to the JSON message: quoted, escaped, plus a comma. */
function encodedBytes(line: string): number {
  return Buffer.byteLength(JSON.stringify(line)) + 1;
}

export class LogStreamer {
  readonly #redact: (text: string) => string;
  readonly #send: (lines: string[]) => void;
  /** Text after the last newline: Docker splits a line across stream events. */
  #partial = "";
  #lines: string[] = [];
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

  /** Sends everything buffered now. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#lines.length === 0) return;
    const lines = this.#lines;
    this.#lines = [];
    this.#bytes = 0;
    this.#send(lines);
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
    const line = truncateLine(this.#redact(shown.slice(shown.lastIndexOf("\r") + 1)));
    const bytes = encodedBytes(line);
    if (this.#bytes + bytes > MAX_MESSAGE_BYTES - ENVELOPE_BYTES) this.flush();
    this.#lines.push(line);
    this.#bytes += bytes;
    if (this.#lines.length >= MAX_LOG_LINES_PER_MESSAGE) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), FLUSH_INTERVAL_MS);
  }
}
