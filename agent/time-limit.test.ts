import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { JobTimeLimit } from "./time-limit";

const SECONDS = 2;

describe("JobTimeLimit", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("aborts when the limit passes, and says so with the limit and its variable", () => {
    const limit = new JobTimeLimit(new AbortController().signal, SECONDS);
    vi.advanceTimersByTime(SECONDS * 1000 - 1);
    expect(limit.signal.aborted).toBe(false);
    vi.advanceTimersByTime(1);
    expect(limit.signal.aborted).toBe(true);
    expect(limit.exceeded).toBe(true);
    expect(limit.message).toBe("the build exceeded the agent's time limit of 2 s (DOCKIFY_AGENT_BUILD_TIMEOUT_SECONDS)");
  });

  it("aborts on cancel without counting as exceeded, even when the limit passes later", () => {
    const cancel = new AbortController();
    const limit = new JobTimeLimit(cancel.signal, SECONDS);
    cancel.abort();
    expect(limit.signal.aborted).toBe(true);
    vi.advanceTimersByTime(SECONDS * 1000);
    expect(limit.exceeded).toBe(false);
  });

  it("leaves no timer behind once cleared", () => {
    const limit = new JobTimeLimit(new AbortController().signal, SECONDS);
    expect(vi.getTimerCount()).toBe(1);
    limit.clear();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(SECONDS * 1000);
    expect(limit.signal.aborted).toBe(false);
  });
});
