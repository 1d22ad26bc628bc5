import { createParser } from "eventsource-parser";
import { describe, expect, it } from "vitest";
import { decodeLogStreamMessage, type Build, type LogStreamMessage } from "../../shared/api";
import type { LogEntry } from "../../shared/build-log";
import { CUTOFF_REASON, Followers, MAX_FOLLOWER_QUEUE_BYTES, MAX_FOLLOWERS, MAX_FOLLOWERS_PER_TENANT, STALLED_AFTER_MS, STALLED_REASON, type StoredLogs } from "./followers";
import { MAX_LOG_BYTES, MAX_LOG_LINES, type LogProgress } from "./log";
import { sseMessage } from "./sse";

const JOB = "job-1";
const RECORD: Build = {
  id: JOB,
  state: "succeeded",
  attempt: 1,
  image_reference: "127.0.0.1:5000/a/b:v1",
  image_url: "http://127.0.0.1:5000/v2/a/b/tags/list",
  digest: `sha256:${"a".repeat(64)}`,
  pushed: [{ reference: "127.0.0.1:5000/a/b:v1", digest: `sha256:${"a".repeat(64)}` }],
  options: { dockerfile: "Dockerfile", build_args: {}, target: null, no_cache: false, platform: null, also_push: [] },
  image_id: "sha256:abc",
  step: null,
  error: null,
  labels: {},
  waiting: null,
  files: { tarball: { size: 2048 } },
  steps: [],
  notify_url: null,
  created_at: "2026-01-01T00:00:00.000Z",
  started_at: "2026-01-01T00:00:00.500Z",
  finished_at: "2026-01-01T00:00:01.000Z",
};

/** The logs of one job in memory: `stored` while it runs, `archive` once it has ended. */
class MemoryLogs implements StoredLogs {
  stored: LogEntry[] = [];
  archive: LogEntry[] | null = null;
  finished = false;
  received = 0;

  progress(): LogProgress {
    const kept = this.archive ? this.archive.filter((entry) => typeof entry === "string" || entry.event.type !== "lines-not-kept").length : this.stored.length;
    return { finished: this.finished, kept, received: Math.max(this.received, kept) };
  }

  entriesAfter(_jobId: string, after: number, limit: number): LogEntry[] {
    return this.stored.slice(after, limit < 0 ? undefined : after + limit);
  }

  async archived(): Promise<AsyncGenerator<LogEntry> | null> {
    const entries = this.archive;
    if (!entries) return null;
    return (async function* () {
      yield* entries;
    })();
  }

  /** Appends as BuildLogs does, telling the followers. */
  append(followers: Followers, entries: LogEntry[]): void {
    const first = this.stored.length + 1;
    this.stored.push(...entries);
    this.received += entries.length;
    followers.appended(JOB, first, entries);
  }

  /** Ends the job and moves its log to the archive, as BuildLogs.archive does. */
  end(followers: Followers): void {
    this.finished = true;
    this.archive = this.stored;
    this.stored = [];
    followers.ended(JOB);
  }
}

async function read(stream: ReadableStream<Uint8Array>, count = Number.MAX_SAFE_INTEGER): Promise<LogStreamMessage[]> {
  const messages: LogStreamMessage[] = [];
  const parser = createParser({ onEvent: (message) => messages.push(decodeLogStreamMessage(message)) });
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  while (messages.length < count) {
    const { done, value } = await reader.read();
    if (done) break;
    parser.feed(decoder.decode(value, { stream: true }));
  }
  reader.releaseLock();
  return messages;
}

/** A follower's stream for tenant `alice`, or a failed test if the pool refused it. */
function followed(followers: Followers, jobId: string, after: number, tenant = "alice"): ReadableStream<Uint8Array> {
  const stream = followers.follow(jobId, after, tenant);
  if ("refused" in stream) throw new Error(`refused: ${stream.refused}`);
  return stream;
}

function setUp(): { logs: MemoryLogs; followers: Followers } {
  const logs = new MemoryLogs();
  return { logs, followers: new Followers(logs, () => RECORD) };
}

describe("Followers", () => {
  it("catches up from storage, then gets each batch pushed, then end", async () => {
    const { logs, followers } = setUp();
    logs.append(followers, ["one", "two"]);
    const stream = followed(followers, JOB, 0);
    expect(await read(stream, 2)).toEqual([
      { id: 1, event: "line", data: "one" },
      { id: 2, event: "line", data: "two" },
    ]);
    logs.append(followers, ["three", { event: { type: "canceled" } }]);
    logs.end(followers);
    expect(await read(stream)).toEqual([
      { id: 3, event: "line", data: "three" },
      { id: 4, event: "event", data: { type: "canceled" } },
      { id: 4, event: "end", data: RECORD },
    ]);
    expect(followers.count).toBe(0);
  });

  it("fans one batch out to every follower of the job, and none to another job's", async () => {
    const { logs, followers } = setUp();
    const streams = [followed(followers, JOB, 0), followed(followers, JOB, 0)];
    const other = followed(followers, "job-2", 0);
    // Each goes live once it has read all there is (nothing yet).
    await Promise.all(streams.map((stream) => read(stream, 0)));
    await new Promise((resolve) => setTimeout(resolve, 0));
    logs.append(followers, ["shared"]);
    for (const stream of streams) expect(await read(stream, 1)).toEqual([{ id: 1, event: "line", data: "shared" }]);
    expect(followers.count).toBe(3);
    await other.cancel();
    expect(followers.count).toBe(2);
  });

  it("reads on from the archive a follower that was still catching up when the build ended, and closes with the trailer", async () => {
    const { logs, followers } = setUp();
    logs.append(followers, Array.from({ length: 1200 }, (_, index) => `line ${index + 1}`));
    logs.received = 1300;
    const stream = followed(followers, JOB, 100);
    const first = await read(stream, 10);
    expect(first[0]).toEqual({ id: 101, event: "line", data: "line 101" });
    logs.archive = [...logs.stored, { event: { type: "lines-not-kept", count: 100, maxLines: MAX_LOG_LINES, maxBytes: MAX_LOG_BYTES } }];
    logs.stored = [];
    logs.finished = true;
    followers.ended(JOB);
    const rest = await read(stream);
    const all = [...first, ...rest];
    const ids = all.filter((message) => message.event !== "end").map((message) => message.id);
    expect(ids).toEqual(Array.from({ length: 1101 }, (_, index) => index + 101));
    expect(all.at(-2)).toMatchObject({ id: 1201, event: "event", data: { type: "lines-not-kept", count: 100 } });
    expect(all.at(-1)).toEqual({ id: 1201, event: "end", data: RECORD });
  });

  it("cuts off a live follower whose client does not read, leaving the others alone", async () => {
    const { logs, followers } = setUp();
    const slow = followed(followers, JOB, 0);
    const fast = followed(followers, JOB, 0);
    await Promise.all([read(slow, 0), read(fast, 0)]);
    await new Promise((resolve) => setTimeout(resolve, 0));
    // Batches as large as an agent sends (a message is at most 256 KiB).
    const line = "x".repeat(4000);
    const batches = Math.ceil(MAX_FOLLOWER_QUEUE_BYTES / (60 * 4000)) + 1;
    let fastSeen = 0;
    for (let batch = 0; batch < batches; batch++) {
      logs.append(followers, Array(60).fill(line));
      fastSeen += (await read(fast, 60)).length;
    }
    expect(fastSeen).toBe(batches * 60);
    const cut = await read(slow);
    const last = cut.at(-1)!;
    expect(last).toEqual({ id: last.id, event: "cutoff", data: { reason: CUTOFF_REASON, last_event_id: last.id } });
    expect(cut.length - 1).toBe(last.id);
    expect(followers.count).toBe(1);
  });

  it("sends live followers a keep-alive comment while nothing happens, and stops once nobody follows", async () => {
    const logs = new MemoryLogs();
    const followers = new Followers(logs, () => RECORD, 20);
    const stream = followed(followers, JOB, 0);
    const reader = stream.getReader();
    const { value } = await reader.read();
    expect(new TextDecoder().decode(value)).toBe(": keep-alive\n\n");
    logs.append(followers, ["after the quiet"]);
    let text = "";
    while (!text.includes("after the quiet")) text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    expect(followers.count).toBe(0);
  });

  it(`serves at most ${MAX_FOLLOWERS} followers at once, and at most ${MAX_FOLLOWERS_PER_TENANT} of one tenant`, async () => {
    const { followers } = setUp();
    const tenants = Array.from({ length: MAX_FOLLOWERS / MAX_FOLLOWERS_PER_TENANT }, (_, index) => `tenant-${index}`);
    const streams = tenants.flatMap((tenant) => Array.from({ length: MAX_FOLLOWERS_PER_TENANT }, () => followed(followers, JOB, 0, tenant)));
    expect(followers.follow(JOB, 0, "another")).toEqual({ refused: expect.stringMatching(/this pool serves 64 live logs/) });
    await streams[0]!.cancel();
    expect(followers.follow(JOB, 0, "tenant-1")).toEqual({ refused: expect.stringMatching(/you follow 16 live logs at once already/) });
    const more = followers.follow(JOB, 0, "tenant-0");
    expect(more).toBeInstanceOf(ReadableStream);
    await Promise.all([...streams.slice(1), more as ReadableStream<Uint8Array>].map((stream) => stream.cancel()));
    expect(followers.count).toBe(0);
  });

  it("gives back the slot of a follower whose client stopped reading while it caught up", async () => {
    const logs = new MemoryLogs();
    let now = 0;
    const followers = new Followers(logs, () => RECORD, 5, () => now);
    logs.append(followers, Array.from({ length: 1000 }, (_, index) => `line ${index + 1} ${"x".repeat(4000)}`));
    const stream = followed(followers, JOB, 0);
    const first = await read(stream, 1);
    expect(first[0]).toMatchObject({ id: 1, event: "line" });
    // The stream fills its queue from storage; then its client reads no more, and time passes.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(followers.count).toBe(1);
    now = STALLED_AFTER_MS + 1;
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(followers.count).toBe(0);
    const rest = await read(stream);
    expect(rest.at(-1)).toMatchObject({ event: "cutoff", data: { reason: STALLED_REASON } });
  });

  it("errors the stream and gives back the slot when storage fails while catching up", async () => {
    const logs = new MemoryLogs();
    logs.finished = true;
    logs.archived = async () => {
      throw new Error("R2 is down");
    };
    const followers = new Followers(logs, () => RECORD);
    const stream = followed(followers, JOB, 0);
    await expect(read(stream)).rejects.toThrow(/R2 is down/);
    expect(followers.count).toBe(0);
  });
});

describe("sseMessage", () => {
  it("writes a message with its id and event, splitting data at every kind of line break", () => {
    expect(sseMessage(7, "line", "a\rb\r\nc\nd")).toBe("id: 7\nevent: line\ndata: a\ndata: b\ndata: c\ndata: d\n\n");
  });
});
