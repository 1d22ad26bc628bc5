import { describe, expect, it } from "vitest";
import { DEFAULT_BACKOFF, reconnectDelay } from "./backoff";

const noJitter = () => 0;
const fullJitter = () => 1;

describe("reconnectDelay", () => {
  it("starts at the initial delay and grows by the factor", () => {
    const delays = [0, 1, 2, 3].map((retry) => reconnectDelay(retry, DEFAULT_BACKOFF, noJitter));
    expect(delays).toEqual([1000, 1600, 2560, 4096]);
  });

  it("never exceeds the cap, however many retries", () => {
    expect(reconnectDelay(50, DEFAULT_BACKOFF, noJitter)).toBe(DEFAULT_BACKOFF.maxMs);
    expect(reconnectDelay(10_000, DEFAULT_BACKOFF, noJitter)).toBe(DEFAULT_BACKOFF.maxMs);
  });

  it("jitters downwards by at most the jitter fraction", () => {
    expect(reconnectDelay(0, DEFAULT_BACKOFF, fullJitter)).toBe(700);
    expect(reconnectDelay(50, DEFAULT_BACKOFF, fullJitter)).toBe(7000);
    for (let i = 0; i < 100; i++) {
      const delay = reconnectDelay(3, DEFAULT_BACKOFF);
      expect(delay).toBeGreaterThanOrEqual(4096 * 0.7 - 1);
      expect(delay).toBeLessThanOrEqual(4096);
    }
  });
});
