import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { seal } from "../secrets";
import { MAX_CACHED_SCRUBBERS, Scrubbers, sealCredentials } from "./job-secret";

async function runningJob(id: string, attempt = 1) {
  return {
    id,
    attempt,
    state: "building" as const,
    sealedPassword: await seal(env.DOCKIFY_SECRET_KEY, id, "pw-123456"),
    sealedCredentials: await sealCredentials(env, id, { logins: [], secrets: [{ id: "s", value: "secret-line-one\nsecret-line-two" }] }),
  };
}

describe("Scrubbers", () => {
  it("opens a job's secrets once per attempt, not for every message, and redacts with them", async () => {
    const scrubbers = new Scrubbers(env);
    const job = await runningJob("job-a");
    const first = scrubbers.for(job);
    expect(scrubbers.for(job)).toBe(first);
    expect((await first).text("pw-123456 then secret-line-two")).toBe("*** then ***");
    // A new attempt opens them again.
    expect(scrubbers.for({ ...job, attempt: 2 })).not.toBe(first);
  });

  it("drops a job's scrubber when it ends, keeps none for an ended job, and keeps at most MAX_CACHED_SCRUBBERS", async () => {
    const scrubbers = new Scrubbers(env);
    const job = await runningJob("job-b");
    const first = scrubbers.for(job);
    scrubbers.drop(job.id);
    expect(scrubbers.size).toBe(0);
    expect(scrubbers.for(job)).not.toBe(first);
    scrubbers.drop(job.id);
    await scrubbers.for({ ...job, state: "succeeded" });
    expect(scrubbers.size).toBe(0);
    const jobs = await Promise.all(Array.from({ length: MAX_CACHED_SCRUBBERS + 3 }, (_, i) => runningJob(`job-${i}`)));
    for (const each of jobs) scrubbers.for(each);
    expect(scrubbers.size).toBe(MAX_CACHED_SCRUBBERS);
    // The least recently used went first: the newest is still the same one.
    const newest = jobs.at(-1)!;
    expect(scrubbers.for(newest)).toBe(scrubbers.for(newest));
  });
});
