import { env } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { archive, DOCKERFILE, file } from "../test/fixtures/tar";
import { storeCheckedContext } from "./context/store";
import { ApiError } from "./errors";
import { keepAlive } from "./keep-alive";
import { LIVE_RENEW_MS, type Result } from "./pool/uploads";

afterEach(() => {
  vi.useRealTimers();
});

describe("keepAlive", () => {
  it("renews every LIVE_RENEW_MS, and aborts with the request's refusal once the pool says stop", async () => {
    vi.useFakeTimers();
    const answers: Result<null>[] = [{ ok: null }, { refused: { status: 429, error: "over the limit", field: "tenant" } }];
    const renew = vi.fn(async () => answers.shift() ?? { ok: null });
    const alive = keepAlive(renew);
    await vi.advanceTimersByTimeAsync(LIVE_RENEW_MS);
    expect(alive.signal.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(LIVE_RENEW_MS);
    expect(alive.signal.aborted).toBe(true);
    expect(alive.signal.reason).toBeInstanceOf(ApiError);
    const answer = (alive.signal.reason as ApiError).getResponse();
    expect(answer.status).toBe(429);
    expect(await answer.json()).toEqual({ error: "over the limit", field: "tenant" });
    // Nothing left to renew.
    await vi.advanceTimersByTimeAsync(3 * LIVE_RENEW_MS);
    expect(renew).toHaveBeenCalledTimes(2);
    alive.stop();
  });

  it("stops a context being stored once aborted: the refusal is thrown and nothing is stored", async () => {
    const controller = new AbortController();
    const stopped = new ApiError(409, "taken over", "id");
    const key = `contexts/${crypto.randomUUID()}.tar`;
    async function* source() {
      yield archive([file("Dockerfile", DOCKERFILE)]).subarray(0, 1024);
      controller.abort(stopped);
      yield archive([file("Dockerfile", DOCKERFILE), file("more", "x".repeat(5000))]).subarray(1024);
    }
    const storing = storeCheckedContext(env.BUCKET, key, source(), { maxEntries: 10, maxBytes: 1 << 20, maxDockerfileBytes: 65536, onMultipart: async () => {}, signal: controller.signal });
    await expect(storing).rejects.toBe(stopped);
    expect(await env.BUCKET.head(key)).toBeNull();
  });
});
