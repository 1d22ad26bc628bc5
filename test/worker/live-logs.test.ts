/**
 * Live logs inside workerd: the log so far, then each batch as the agent sends
 * it, then `end` with the final record; Last-Event-ID resumes without a gap or
 * a repeat, also once the log is archived in R2; a follower that does not read
 * is cut off while the build goes on.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { createParser } from "eventsource-parser";
import { beforeEach, describe, expect, it } from "vitest";
import { decodeLogStreamMessage, type LogStreamMessage, type SeedAccepted } from "../../shared/api";
import { renderEvent, type Placement } from "../../shared/build-log";
import { CUTOFF_REASON, MAX_FOLLOWER_QUEUE_BYTES } from "../../worker/pool/followers";
import { logKey } from "../../worker/pool/log";
import { DEFAULT_POOL, poolStub } from "../../worker/pool/stub";
import { TestAgent } from "./agent-socket";
import { ALICE, BOB, call, submit } from "./helpers";

/** Each test's build is the first of its repository on a fresh pool. */
const FIRST_BUILD: Placement = { reason: "least-busy", lastAgent: null };

beforeEach(async () => {
  await runInDurableObject(poolStub(env, DEFAULT_POOL), (_pool, state) => {
    for (const ws of state.getWebSockets()) ws.close(1000, "next test");
    state.storage.sql.exec("DELETE FROM agents");
    state.storage.sql.exec("UPDATE jobs SET state = 'canceled', step = 'canceled', finished_at = ? WHERE state = 'queued'", Date.now());
  });
});

/** A live log as the client reads it: typed messages, one at a time. */
class Follower {
  readonly messages: LogStreamMessage[] = [];
  done = false;
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly parser = createParser({ onEvent: (message) => this.messages.push(decodeLogStreamMessage(message)) });
  private readonly decoder = new TextDecoder();

  constructor(readonly response: Response) {
    this.reader = response.body!.getReader();
  }

  /** Reads until `count` messages have come (or the stream ends). */
  async until(count: number, timeoutMs = 3_000): Promise<LogStreamMessage[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages.length < count && !this.done) {
      if (Date.now() > deadline) throw new Error(`only ${this.messages.length} of ${count} messages: ${JSON.stringify(this.messages)}`);
      const { done, value } = await this.reader.read();
      if (done) this.done = true;
      else this.parser.feed(this.decoder.decode(value, { stream: true }));
    }
    return this.messages;
  }

  async toEnd(): Promise<LogStreamMessage[]> {
    return this.until(Number.MAX_SAFE_INTEGER, 5_000);
  }

  cancel(): Promise<void> {
    return this.reader.cancel();
  }
}

function follow(id: string, options: { lastEventId?: number; auth?: string; query?: string } = {}): Promise<Response> {
  const headers: Record<string, string> = { Authorization: options.auth ?? ALICE };
  if (options.query === undefined) headers.Accept = "text/event-stream";
  if (options.lastEventId !== undefined) headers["Last-Event-ID"] = String(options.lastEventId);
  return call(`/v1/builds/${id}/logs${options.query ?? ""}`, { headers });
}

async function running(): Promise<{ agent: TestAgent; id: string; attempt: number }> {
  const agent = await TestAgent.hello("streamer");
  const { task_id: id } = await (await submit()).json<SeedAccepted>();
  const { attempt } = await agent.next("assign");
  return { agent, id, attempt };
}

const lines = (messages: LogStreamMessage[]) => messages.flatMap((message) => (message.event === "line" ? [message.data] : []));
const ids = (messages: LogStreamMessage[]) => messages.filter((message) => message.event === "line" || message.event === "event").map((message) => message.id);

describe("live logs", () => {
  it("sends the log so far, then each batch as it comes, Dockify's events as data, then end with the record", async () => {
    const { agent, id, attempt } = await running();
    agent.send({ type: "log", jobId: id, attempt, entries: ["one", { event: { type: "downloading-context" } }] });
    const forged = renderEvent({ type: "canceled" });
    const response = await follow(id);
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Type")).toBe("text/event-stream; charset=utf-8");
    const follower = new Follower(response);
    expect(await follower.until(3)).toEqual([
      { id: 1, event: "event", data: { type: "assigned", attempt, agent: "streamer", placement: FIRST_BUILD } },
      { id: 2, event: "line", data: "one" },
      { id: 3, event: "event", data: { type: "downloading-context" } },
    ]);
    agent.send({ type: "log", jobId: id, attempt, entries: ["two", forged, "multi\rline"] });
    expect((await follower.until(6)).slice(3)).toEqual([
      { id: 4, event: "line", data: "two" },
      // A line that looks like one of Dockify's events stays a line.
      { id: 5, event: "line", data: forged },
      { id: 6, event: "line", data: "multi\nline" },
    ]);
    agent.send({ type: "result", jobId: id, attempt, outcome: { status: "failed", step: "build", error: "exit 1" } });
    const all = await follower.toEnd();
    expect(all).toHaveLength(7);
    expect(all[6]).toMatchObject({ id: 6, event: "end", data: { id, state: "failed", step: "build", error: "exit 1" } });
    expect(follower.done).toBe(true);
    agent.ws.close();
  });

  it("resumes after Last-Event-ID with no gap and no repeat, while running and once the log is archived", async () => {
    const { agent, id, attempt } = await running();
    agent.send({ type: "log", jobId: id, attempt, entries: ["a", "b", "c"] });
    const first = new Follower(await follow(id, { query: "?follow=1" }));
    expect(lines(await first.until(4))).toEqual(["a", "b", "c"]);
    await first.cancel();

    const resumed = new Follower(await follow(id, { lastEventId: 2 }));
    agent.send({ type: "log", jobId: id, attempt, entries: ["d"] });
    expect(await resumed.until(2)).toEqual([
      { id: 3, event: "line", data: "b" },
      { id: 4, event: "line", data: "c" },
    ]);
    expect((await resumed.until(3))[2]).toEqual({ id: 5, event: "line", data: "d" });
    await resumed.cancel();

    agent.send({ type: "result", jobId: id, attempt, outcome: { status: "canceled" } });
    await waitFor(async () => (await env.BUCKET.head(logKey(id))) !== null);
    const archived = await new Follower(await follow(id, { lastEventId: 3 })).toEnd();
    expect(archived.map(({ id: messageId, event }) => [messageId, event])).toEqual([
      [4, "line"],
      [5, "line"],
      [5, "end"],
    ]);
    expect(lines(archived)).toEqual(["c", "d"]);
    // From the very start, the archive numbers its entries as SQLite did.
    const whole = await new Follower(await follow(id)).toEnd();
    expect(ids(whole)).toEqual([1, 2, 3, 4, 5]);
    const fromEnd = await new Follower(await follow(id, { lastEventId: 5 })).toEnd();
    expect(fromEnd).toEqual([expect.objectContaining({ id: 5, event: "end" })]);
    // The plain log still reads as text from the archive.
    const text = await (await call(`/v1/builds/${id}/logs`, { headers: { Authorization: ALICE } })).text();
    expect(text).toBe(`${renderEvent({ type: "assigned", attempt, agent: "streamer", placement: FIRST_BUILD })}\na\nb\nc\nd\n`);
    agent.ws.close();
  });

  it("cuts off a follower that does not read, with a clear message, while the build and other followers go on", async () => {
    const { agent, id, attempt } = await running();
    const stalled = new Follower(await follow(id));
    await stalled.until(1);
    const reading = new Follower(await follow(id));
    await reading.until(1);
    const line = "z".repeat(4000);
    const batches = Math.ceil((3 * MAX_FOLLOWER_QUEUE_BYTES) / (60 * 4000));
    for (let batch = 0; batch < batches; batch++) {
      agent.send({ type: "log", jobId: id, attempt, entries: Array(60).fill(line) });
      await reading.until(1 + (batch + 1) * 60, 5_000);
    }
    const cut = await stalled.toEnd();
    const last = cut.at(-1)!;
    expect(last).toEqual({ event: "cutoff", id: last.id, data: { reason: CUTOFF_REASON, last_event_id: last.id } });
    expect(ids(cut)).toEqual(Array.from({ length: cut.length - 1 }, (_, index) => index + 1));
    expect(lines(await reading.until(1 + batches * 60))).toHaveLength(batches * 60);
    // The cut-off follower reconnects and reads the rest from storage.
    const rest = new Follower(await follow(id, { lastEventId: last.id }));
    expect(ids(await rest.until(1 + batches * 60 - last.id))[0]).toBe(last.id + 1);
    await rest.cancel();
    await reading.cancel();
    agent.ws.close();
  });

  it("answers another tenant's build as unknown, and a bad Last-Event-ID or follow with a 400", async () => {
    const { agent, id } = await running();
    expect((await follow(id, { auth: BOB })).status).toBe(404);
    const bad = await follow(id, { lastEventId: -1 });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ field: "Last-Event-ID" });
    const badFollow = await follow(id, { query: "?follow=maybe" });
    expect(badFollow.status).toBe(400);
    expect(await badFollow.json()).toMatchObject({ field: "follow" });
    agent.ws.close();
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
