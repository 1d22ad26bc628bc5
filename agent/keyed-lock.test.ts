import { describe, expect, it } from "vitest";
import { KeyedLock } from "./keyed-lock";

const NEVER_ABORTED = new AbortController().signal;

/** A task that records when it starts and ends, and ends only when told to. */
function gate(name: string, events: string[]) {
  let open = (): void => {};
  const opened = new Promise<void>((resolve) => (open = resolve));
  const task = async () => {
    events.push(`${name} start`);
    await opened;
    events.push(`${name} end`);
    return name;
  };
  return { task, open };
}

/** Lets every settled promise's callbacks run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("KeyedLock", () => {
  it("runs the holders of one key one after another, in the order they came", async () => {
    const lock = new KeyedLock();
    const events: string[] = [];
    const first = gate("first", events);
    const second = gate("second", events);
    const third = gate("third", events);
    const results = [first, second, third].map(({ task }) => lock.run("registry/web:latest", NEVER_ABORTED, task));
    await settle();
    expect(events).toEqual(["first start"]);
    // Opened out of order: the third still waits for the second.
    third.open();
    first.open();
    await settle();
    expect(events).toEqual(["first start", "first end", "second start"]);
    second.open();
    expect(await Promise.all(results)).toEqual(["first", "second", "third"]);
    expect(events).toEqual(["first start", "first end", "second start", "second end", "third start", "third end"]);
  });

  it("runs holders of different keys at the same time", async () => {
    const lock = new KeyedLock();
    const events: string[] = [];
    const web = gate("web", events);
    const api = gate("api", events);
    const results = Promise.all([lock.run("web:latest", NEVER_ABORTED, web.task), lock.run("api:latest", NEVER_ABORTED, api.task)]);
    await settle();
    expect(events).toEqual(["web start", "api start"]);
    web.open();
    api.open();
    await results;
  });

  it("passes the key on when a holder fails, and the failure reaches its caller", async () => {
    const lock = new KeyedLock();
    const failed = lock.run("web:latest", NEVER_ABORTED, () => Promise.reject(new Error("push refused")));
    const next = lock.run("web:latest", NEVER_ABORTED, async () => "pushed");
    await expect(failed).rejects.toThrow("push refused");
    await expect(next).resolves.toBe("pushed");
  });

  it("stops waiting on abort without running the task; whoever was queued behind it still waits its turn", async () => {
    const lock = new KeyedLock();
    const events: string[] = [];
    const first = gate("first", events);
    const behind = gate("behind", events);
    const canceled = new AbortController();
    const holding = lock.run("web:latest", NEVER_ABORTED, first.task);
    const waiting = lock.run("web:latest", canceled.signal, async () => events.push("canceled ran"));
    const queued = lock.run("web:latest", NEVER_ABORTED, behind.task);
    const reason = new Error("job canceled");
    canceled.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    await settle();
    expect(events).toEqual(["first start"]);
    first.open();
    behind.open();
    await Promise.all([holding, queued]);
    expect(events).toEqual(["first start", "first end", "behind start", "behind end"]);
  });

  it("still makes a newcomer wait for the holder when the last waiter gave up", async () => {
    const lock = new KeyedLock();
    const events: string[] = [];
    const first = gate("first", events);
    const newcomer = gate("newcomer", events);
    const canceled = new AbortController();
    const holding = lock.run("web:latest", NEVER_ABORTED, first.task);
    const waiting = lock.run("web:latest", canceled.signal, async () => events.push("canceled ran"));
    canceled.abort(new Error("job canceled"));
    await expect(waiting).rejects.toThrow("job canceled");
    const later = lock.run("web:latest", NEVER_ABORTED, newcomer.task);
    await settle();
    // The first holder still holds the key: the newcomer must not start beside it.
    expect(events).toEqual(["first start"]);
    first.open();
    newcomer.open();
    await Promise.all([holding, later]);
    expect(events).toEqual(["first start", "first end", "newcomer start", "newcomer end"]);
  });

  it("does not run the task when the signal has already aborted", async () => {
    const lock = new KeyedLock();
    const reason = new Error("time limit");
    let ran = false;
    await expect(lock.run("web:latest", AbortSignal.abort(reason), async () => (ran = true))).rejects.toBe(reason);
    expect(ran).toBe(false);
    // Nor does it hold up the key.
    await expect(lock.run("web:latest", NEVER_ABORTED, async () => "next")).resolves.toBe("next");
  });

  it("lets a later holder straight in once the key is free again", async () => {
    const lock = new KeyedLock();
    await lock.run("web:latest", NEVER_ABORTED, async () => "first");
    const events: string[] = [];
    const later = gate("later", events);
    const result = lock.run("web:latest", NEVER_ABORTED, later.task);
    await settle();
    expect(events).toEqual(["later start"]);
    later.open();
    await result;
  });
});
