import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { agentEvent, MAX_LOG_LINE_CHARS, renderEntry, renderEvent, type AgentEvent } from "../shared/build-log";
import { LOG_BATCHES_PER_SECOND, MAX_LOG_LINES_PER_MESSAGE, MAX_MESSAGE_BYTES } from "../shared/protocol";
import { redact } from "../shared/redact";
import type { AgentLogEntry } from "../shared/build-log";
import {
  FLUSH_INTERVAL_MS,
  LogStreamer,
  MAX_LINES_PER_SECOND,
  MAX_WAITING_BATCHES,
  MIN_BATCH_GAP_MS,
  truncateLine,
} from "./log-streamer";

function streamer(secrets: string[] = []) {
  const batches: AgentLogEntry[][] = [];
  const logs = new LogStreamer({ redact: (text) => redact(text, secrets), send: (entries) => batches.push(entries) });
  return { logs, batches };
}

/** Entries that must all be lines of text: an event among them fails the test. */
function lines(entries: AgentLogEntry[]): string[] {
  return entries.map((entry) => (typeof entry === "string" ? entry : expect.unreachable(`an event among the lines: ${JSON.stringify(entry)}`)));
}

describe("LogStreamer", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("sends buffered lines after the flush interval, not before", () => {
    const { logs, batches } = streamer();
    logs.write("one\ntwo\n");
    vi.advanceTimersByTime(FLUSH_INTERVAL_MS - 1);
    expect(batches).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(batches).toEqual([["one", "two"]]);
  });

  it("joins a line split across writes and holds the unfinished tail until close", () => {
    const { logs, batches } = streamer();
    logs.write("Step 1/2 : FR");
    logs.write("OM scratch\n ---> Running");
    vi.advanceTimersByTime(FLUSH_INTERVAL_MS);
    expect(batches).toEqual([["Step 1/2 : FROM scratch"]]);
    logs.close();
    expect(batches).toEqual([["Step 1/2 : FROM scratch"], [" ---> Running"]]);
  });

  it(`sends a full batch of ${MAX_LOG_LINES_PER_MESSAGE} lines at once`, () => {
    const { logs, batches } = streamer();
    logs.write(Array.from({ length: MAX_LOG_LINES_PER_MESSAGE + 5 }, (_, i) => `line ${i}\n`).join(""));
    expect(batches).toHaveLength(1);
    expect(batches[0]).toHaveLength(MAX_LOG_LINES_PER_MESSAGE);
    logs.close();
    expect(batches[1]).toHaveLength(5);
  });

  it(`sends at most ${LOG_BATCHES_PER_SECOND} batches a second however fast the build prints, and says how many lines it skipped`, () => {
    const { logs, batches } = streamer();
    const sentAt: number[] = [];
    let next = 0;
    for (let ms = 0; ms < 1000; ms += 10) {
      // 20,000 lines a second, ten times the pace.
      logs.write(Array.from({ length: 200 }, () => `line ${next++}\n`).join(""));
      vi.advanceTimersByTime(10);
      while (sentAt.length < batches.length) sentAt.push(ms);
    }
    const inFirstSecond = sentAt.filter((ms) => ms < 1000).length;
    expect(inFirstSecond).toBeLessThanOrEqual(LOG_BATCHES_PER_SECOND + 1);
    logs.close();
    // The close sends what waited: a bounded burst.
    expect(batches.length - sentAt.length).toBeLessThanOrEqual(MAX_WAITING_BATCHES + 2);
    const entries = batches.flat();
    const kept = entries.filter((entry) => typeof entry === "string").length;
    const skipped = entries.flatMap((entry) => (typeof entry === "object" && entry.event.type === "lines-skipped" ? [entry.event.count] : []));
    expect(skipped.length).toBeGreaterThan(0);
    expect(kept + skipped.reduce((a, b) => a + b, 0)).toBe(next);
    expect(entries.find((entry) => typeof entry === "object")).toEqual({
      event: { type: "lines-skipped", count: skipped[0], maxLinesPerSecond: MAX_LINES_PER_SECOND },
    });
    // Lines kept stay in order.
    const numbers = entries.flatMap((entry) => (typeof entry === "string" ? [Number(entry.split(" ")[1])] : []));
    expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
  });

  it("keeps every line of a build that prints at the pace", () => {
    const { logs, batches } = streamer();
    for (let i = 0; i < 2 * LOG_BATCHES_PER_SECOND; i++) {
      logs.write(Array.from({ length: MAX_LOG_LINES_PER_MESSAGE }, (_, j) => `${i}.${j}\n`).join(""));
      vi.advanceTimersByTime(MIN_BATCH_GAP_MS);
    }
    logs.close();
    expect(batches.flat()).toHaveLength(2 * LOG_BATCHES_PER_SECOND * MAX_LOG_LINES_PER_MESSAGE);
  });

  it(`truncates lines to ${MAX_LOG_LINE_CHARS} characters and marks the cut`, () => {
    const { logs, batches } = streamer();
    logs.write(`${"x".repeat(MAX_LOG_LINE_CHARS + 100)}\nshort\n`);
    logs.close();
    const [long, short] = lines(batches[0]!);
    expect(long).toHaveLength(MAX_LOG_LINE_CHARS);
    expect(long!.endsWith("…")).toBe(true);
    expect(short).toBe("short");
  });

  it("cuts output that never prints a newline instead of buffering it forever", () => {
    const { logs, batches } = streamer();
    for (let i = 0; i < 20; i++) logs.write("y".repeat(1000));
    expect(batches).toEqual([]);
    vi.advanceTimersByTime(FLUSH_INTERVAL_MS);
    expect(batches.flat().length).toBeGreaterThan(0);
    logs.close();
    const cut = lines(batches.flat());
    expect(cut.every((line) => line.length <= MAX_LOG_LINE_CHARS && /^y+$/.test(line))).toBe(true);
    expect(cut.join("").length).toBe(20_000);
  });

  it("keeps every message under the byte limit, even for lines that escape to six bytes a character", () => {
    const { logs, batches } = streamer();
    const control = "\u0001".repeat(MAX_LOG_LINE_CHARS);
    for (let i = 0; i < MAX_LOG_LINES_PER_MESSAGE; i++) {
      logs.write(`${control}\n`);
      // At the pace a build's log may go: about ten such lines fill a message.
      if (i % 5 === 4) vi.advanceTimersByTime(MIN_BATCH_GAP_MS);
    }
    logs.close();
    expect(batches.length).toBeGreaterThan(1);
    expect(batches.flat()).toHaveLength(MAX_LOG_LINES_PER_MESSAGE);
    for (const entries of batches) {
      const message = JSON.stringify({ type: "log", jobId: crypto.randomUUID(), attempt: 1, entries });
      expect(Buffer.byteLength(message)).toBeLessThan(MAX_MESSAGE_BYTES);
    }
  });

  it("redacts a secret that straddles the cut of a line without newlines", () => {
    const { logs, batches } = streamer(["s3cret"]);
    logs.write("z".repeat(MAX_LOG_LINE_CHARS - 3));
    logs.write("s3cret");
    logs.write("z".repeat(MAX_LOG_LINE_CHARS * 2));
    logs.close();
    const text = lines(batches.flat()).join("");
    expect(text).not.toMatch(/s3|cret/);
    expect(text).toContain("***");
  });

  it("redacts secrets before a line is buffered, including in the unfinished tail", () => {
    const { logs, batches } = streamer(["s3cret"]);
    logs.write("password is s3cret\nlast s3");
    logs.write("cret");
    logs.close();
    expect(batches.flat()).toEqual(["password is ***", "last ***"]);
  });

  it("keeps what a terminal shows of a line redrawn with carriage returns", () => {
    const { logs, batches } = streamer();
    logs.write("10%\r50%\r100%\r\ndone\r\n");
    logs.close();
    expect(batches.flat()).toEqual(["100%", "done"]);
  });

  it("sends nothing when there is nothing to send", () => {
    const { logs, batches } = streamer();
    logs.close();
    vi.advanceTimersByTime(FLUSH_INTERVAL_MS * 4);
    expect(batches).toEqual([]);
  });

  it("sends events as data, in order with the lines around them", () => {
    const { logs, batches } = streamer();
    logs.write("one\n");
    logs.event({ type: "pushing", reference: "127.0.0.1:5000/a/b:v1" });
    logs.write("two\n");
    vi.advanceTimersByTime(FLUSH_INTERVAL_MS);
    expect(batches).toEqual([["one", { event: { type: "pushing", reference: "127.0.0.1:5000/a/b:v1" } }, "two"]]);
  });

  it("ends an unfinished line where an event comes, so the event stands after it", () => {
    const { logs, batches } = streamer();
    logs.write("Step 2/2 : RUN sleep 30");
    logs.event({ type: "canceled" });
    logs.close();
    expect(batches).toEqual([["Step 2/2 : RUN sleep 30", { event: { type: "canceled" } }]]);
  });

  it("redacts every text of an event before it is buffered", () => {
    const { logs, batches } = streamer(["s3cret"]);
    logs.event({ type: "failed", step: "push", error: "login with s3cret refused" });
    logs.close();
    expect(batches).toEqual([[{ event: { type: "failed", step: "push", error: "login with *** refused" } }]]);
  });

  it("cuts an event whose line would outgrow the limit exactly as that line would be cut", () => {
    const { logs, batches } = streamer();
    const event: AgentEvent = { type: "failed", step: "build", error: "e".repeat(MAX_LOG_LINE_CHARS) };
    logs.event(event);
    logs.close();
    const [entry] = batches.flat();
    expect(typeof entry === "object" && agentEvent.parse(entry.event)).toMatchObject({ type: "failed", step: "build" });
    expect(renderEntry(entry!)).toBe(truncateLine(renderEvent(event)));
    expect(renderEntry(entry!)).toHaveLength(MAX_LOG_LINE_CHARS);
  });

  it(`counts events in a batch of ${MAX_LOG_LINES_PER_MESSAGE} entries, as lines`, () => {
    const { logs, batches } = streamer();
    logs.write(Array.from({ length: MAX_LOG_LINES_PER_MESSAGE - 1 }, (_, i) => `line ${i}\n`).join(""));
    expect(batches).toEqual([]);
    logs.event({ type: "downloading-context" });
    expect(batches).toHaveLength(1);
    expect(batches[0]).toHaveLength(MAX_LOG_LINES_PER_MESSAGE);
    expect(batches[0]!.at(-1)).toEqual({ event: { type: "downloading-context" } });
  });
});
