/**
 * Live logs against a real build that prints numbered lines with pauses: a
 * follower attached mid-build, and one that disconnects and reconnects with
 * Last-Event-ID, each see every line exactly once, and the stream ends with
 * the build's final record. After the build, resuming reads from the
 * archived log with the same ids.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LogStreamMessage } from "../../shared/api";
import { ok } from "../../harness/api";
import { poll } from "../../harness/poll";
import { startStack, type Stack } from "../../harness/stack";

const LINES = 24;
/** A numbered line as BuildKit's plain progress shows a RUN step's output: `#5 1.234 numbered line 3`. */
const NUMBERED = /^#\d+ \d+\.\d{3} numbered line (\d+)$/;

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});

afterAll(async () => {
  await stack?.stop();
});

/** The numbers of the numbered lines among the messages, in the order they came. */
function numbers(messages: LogStreamMessage[]): number[] {
  return messages.flatMap((message) => {
    const match = message.event === "line" ? NUMBERED.exec(message.data) : null;
    return match ? [Number(match[1])] : [];
  });
}

function entryIds(messages: LogStreamMessage[]): number[] {
  return messages.filter((message) => message.event === "line" || message.event === "event").map((message) => message.id);
}

const everyLine = Array.from({ length: LINES }, (_, index) => index + 1);

describe("live logs end to end", () => {
  it("gives a follower attached mid-build and one reconnecting with Last-Event-ID every line exactly once", async () => {
    const { task_id: id } = ok(
      await stack.api.submitSeedBuild({
        query: { user_name: stack.secrets.registryUser, repo: "live", tag: "v1", registry: stack.registry.host },
        fields: { password: stack.secrets.registryPassword },
        // The run's own marker keeps the step out of BuildKit's cache, which would replay no output.
        dockerfile: `FROM ${stack.baseImage}\nRUN : ${randomUUID()}; for i in $(seq 1 ${LINES}); do echo "numbered line $i"; sleep 0.25; done\n`,
      }),
    );

    // Follows from the start, drops its connection after line 8, and reconnects from the last id it got.
    const reconnecting = (async () => {
      const before: LogStreamMessage[] = [];
      const controller = new AbortController();
      for await (const message of stack.api.followLog(id, { signal: controller.signal })) {
        before.push(message);
        if (numbers(before).includes(8)) controller.abort();
      }
      const lastEventId = before.at(-1)!.id;
      const after: LogStreamMessage[] = [];
      for await (const message of stack.api.followLog(id, { lastEventId })) after.push(message);
      return { before, after };
    })();

    await poll(`line 5 of ${id}`, async () => ((await stack.api.log(id)).includes("numbered line 5\n") ? true : undefined), { timeoutMs: 60_000 });
    const midBuild: LogStreamMessage[] = [];
    for await (const message of stack.api.followLog(id, { viaQuery: true })) midBuild.push(message);

    expect(numbers(midBuild)).toEqual(everyLine);
    expect(entryIds(midBuild)).toEqual(Array.from({ length: entryIds(midBuild).length }, (_, index) => index + 1));
    const end = midBuild.at(-1)!;
    expect(end).toMatchObject({ event: "end", data: { id, state: "succeeded", digest: expect.stringMatching(/^sha256:/) } });

    const { before, after } = await reconnecting;
    expect(before.at(-1)!.event).not.toBe("end");
    const joined = [...before, ...after];
    expect(numbers(joined)).toEqual(everyLine);
    expect(entryIds(joined)).toEqual(entryIds(midBuild));
    expect(after.at(-1)).toEqual(end);

    // After the end the log is archived; resuming from the middle reads it with the same ids, then `end` again.
    const middle = entryIds(midBuild)[Math.floor(entryIds(midBuild).length / 2)]!;
    const archived: LogStreamMessage[] = [];
    for await (const message of stack.api.followLog(id, { lastEventId: middle })) archived.push(message);
    expect(archived).toEqual(midBuild.filter((message) => message.id > middle || message.event === "end"));
  });
});
