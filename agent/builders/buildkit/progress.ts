/**
 * BuildKit's trace as a user reads it: plain lines like
 * `docker buildx build --progress=plain` prints them (`#5 [2/3] RUN make`,
 * `#5 0.190 <the step's output>`, `#5 CACHED`, `#5 DONE 3.1s`,
 * `#5 ERROR: …`), and the Dockerfile's steps as data for the build's record.
 * It also names every image the build resolved (`[internal] load metadata
 * for X`, `resolve image config for X`), so the builder can stop a build that
 * reaches for an image nobody checked.
 */
import { MAX_REPORTED_STEPS, type BuildStep } from "../../../shared/protocol";
import type { Trace, Vertex } from "./trace";

/** A Dockerfile step as BuildKit names it: `[2/3] RUN …`, or `[build 2/3] RUN …` in a named stage. */
const STEP_NAME = /^\[[^\]]*?\d+\/\d+\] /;
const FROM_STEP = /^\[[^\]]*?\d+\/\d+\] FROM /;
/** The vertexes in which BuildKit resolves an image reference (a FROM's, a `# syntax=` frontend's). */
const RESOLVES = [/^\[internal\] load metadata for (\S+)$/, /^resolve image config for (\S+)$/];
const CANCELED = "context canceled";

interface Shown {
  index: number;
  name: string;
  cached: boolean;
  started: number | null;
  completed: number | null;
  error: string;
  /** Per output stream (stdout, stderr), a line not yet ended by a newline and when it came (seconds into the step). */
  partial: Map<number, { text: string; elapsed: string }>;
  done: boolean;
  statuses: Set<string>;
}

export class PlainProgress {
  readonly #write: (line: string) => void;
  readonly #vertexes = new Map<string, Shown>();
  readonly #resolved = new Set<string>();
  #next = 1;

  /** `write` gets each line, without its newline. */
  constructor(write: (line: string) => void) {
    this.#write = write;
  }

  /** Renders one trace; returns the image references it shows the build resolving for the first time. */
  push(trace: Trace): string[] {
    const resolved: string[] = [];
    for (const vertex of trace.vertexes) {
      const shown = this.#vertex(vertex.digest);
      Object.assign(shown, { name: vertex.name, cached: vertex.cached, error: vertex.error });
      if (vertex.started !== null) shown.started = vertex.started;
      if (vertex.completed !== null) shown.completed = vertex.completed;
      for (const pattern of RESOLVES) {
        const reference = pattern.exec(vertex.name)?.[1];
        if (reference && !this.#resolved.has(reference)) {
          this.#resolved.add(reference);
          resolved.push(reference);
        }
      }
      if (vertex.started !== null || vertex.completed !== null || vertex.cached) this.#show(shown);
      if (vertex.completed !== null && !shown.done) this.#complete(shown, vertex);
    }
    for (const status of trace.statuses) {
      const shown = this.#show(this.#vertex(status.vertex));
      const key = status.completed !== null ? `${status.id}\u0000done` : status.id;
      // Statuses repeat as their numbers grow: the first and the last are enough in a log.
      if (shown.statuses.has(key)) continue;
      shown.statuses.add(key);
      const amount = status.total ? ` ${status.current} / ${status.total}` : status.current ? ` ${status.current}` : "";
      this.#line(shown, `${status.id}${amount}${status.completed !== null ? " done" : ""}`);
    }
    for (const log of trace.logs) {
      const shown = this.#show(this.#vertex(log.vertex));
      const elapsed = shown.started !== null && log.timestamp !== null ? ((log.timestamp - shown.started) / 1000).toFixed(3) : "0.000";
      const parts = ((shown.partial.get(log.stream)?.text ?? "") + log.msg.toString("utf8")).split(/\r?\n/);
      const rest = parts.pop() ?? "";
      if (rest) shown.partial.set(log.stream, { text: rest, elapsed });
      else shown.partial.delete(log.stream);
      for (const part of parts) this.#line(shown, `${elapsed} ${part}`);
    }
    return resolved;
  }

  /** Ends what was left mid-line (a build that failed or was stopped). */
  finish(): void {
    for (const shown of this.#vertexes.values()) this.#flushPartial(shown);
  }

  /**
   * The Dockerfile's steps as they ran, in the order they were shown: names and errors whole, since they carry the
   * build's arguments and must be redacted before they are cut to the record's limits (job-runner.ts).
   */
  steps(): BuildStep[] {
    return [...this.#vertexes.values()]
      .filter((shown) => shown.index > 0 && STEP_NAME.test(shown.name))
      .sort((a, b) => a.index - b.index)
      .slice(0, MAX_REPORTED_STEPS)
      .map((shown) => ({
        name: shown.name,
        cached: shown.cached,
        startedAt: shown.started,
        durationMs: shown.started !== null && shown.completed !== null ? Math.max(0, shown.completed - shown.started) : null,
        ...(shown.error && { error: shown.error }),
      }));
  }

  /** How many of the steps that do work (every one but FROM) came from the cache. */
  reuse(): { reused: number; steps: number } {
    const working = [...this.#vertexes.values()].filter((shown) => shown.index > 0 && STEP_NAME.test(shown.name) && !FROM_STEP.test(shown.name));
    return { reused: working.filter((shown) => shown.cached).length, steps: working.length };
  }

  #vertex(digest: string): Shown {
    let shown = this.#vertexes.get(digest);
    if (!shown) {
      shown = { index: 0, name: "", cached: false, started: null, completed: null, error: "", partial: new Map(), done: false, statuses: new Set() };
      this.#vertexes.set(digest, shown);
    }
    return shown;
  }

  #show(shown: Shown): Shown {
    if (shown.index === 0) {
      shown.index = this.#next++;
      this.#write(`#${shown.index} ${shown.name}`);
    }
    return shown;
  }

  #complete(shown: Shown, vertex: Vertex): void {
    shown.done = true;
    this.#flushPartial(shown);
    if (vertex.error) this.#line(shown, vertex.error.endsWith(CANCELED) ? "CANCELED" : `ERROR: ${vertex.error}`);
    else if (vertex.cached) this.#line(shown, "CACHED");
    else this.#line(shown, `DONE ${(((vertex.completed ?? 0) - (shown.started ?? vertex.completed ?? 0)) / 1000).toFixed(1)}s`);
  }

  #flushPartial(shown: Shown): void {
    for (const { text, elapsed } of shown.partial.values()) this.#line(shown, `${elapsed} ${text}`);
    shown.partial.clear();
  }

  #line(shown: Shown, text: string): void {
    this.#write(`#${shown.index} ${text}`);
  }
}
