import type { ErrorBody, BuildList, SeedAccepted } from "../../shared/api";
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { DEFAULT_POOL, poolStub } from "../../worker/pool/stub";
import { TestAgent } from "./agent-socket";
import { ALICE, BOB, call, storedContexts, submit, type SeedBuild } from "./helpers";

const CAROL = "Bearer carol-token";
const MiB = 1024 * 1024;

describe("request limits", () => {
  it.each([
    ["a request over DOCKIFY_MAX_REQUEST_BYTES", { files: [{ name: "big.bin", content: "x".repeat(9 * MiB) }] }, "body"],
    ["a Dockerfile over DOCKIFY_MAX_DOCKERFILE_BYTES", { dockerfile: { name: "Dockerfile", content: `FROM scratch\n#${"x".repeat(70_000)}` } }, "dockerfile"],
    ["more files than DOCKIFY_MAX_FILES", { files: Array.from({ length: 51 }, (_, i) => ({ name: `f${i}`, content: "x" })) }, "optional_files"],
  ] as [string, SeedBuild, string][])("refuses %s with 413 and stores nothing", async (_name, build, field) => {
    const before = await storedContexts();
    const response = await submit(build);
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ field });
    expect(await storedContexts()).toEqual(before);
  });
});

describe("tenant limits", () => {
  it("refuses a build past the tenant's context bytes with 429, without touching other tenants", async () => {
    // Three of 7 MiB fit carol's 24 MiB (this project's DOCKIFY_TENANT_MAX_CONTEXT_BYTES); a fourth does not.
    const seven = (name: string) => ({ files: [{ name, content: name[0]!.repeat(7 * MiB) }] });
    const first = await submit(seven("a.bin"), CAROL);
    expect(first.status).toBe(200);
    for (const name of ["b.bin", "c.bin"]) expect((await submit(seven(name), CAROL)).status).toBe(200);
    const before = await storedContexts();
    const fourth = await submit(seven("d.bin"), CAROL);
    expect(fourth.status).toBe(429);
    const body = await fourth.json<ErrorBody>();
    expect(body.field).toBe("tenant");
    expect(body.error).toMatch(/DOCKIFY_TENANT_MAX_CONTEXT_BYTES/);
    expect(await storedContexts()).toEqual(before);
    expect((await submit(seven("d.bin"), BOB)).status).toBe(200);
    // Canceling frees the room again.
    const { task_id } = await first.json<SeedAccepted>();
    await call(`/v1/builds/${task_id}/cancel`, { method: "POST", headers: { Authorization: CAROL } });
    expect((await submit(seven("d.bin"), CAROL)).status).toBe(200);
  });

  it("refuses a build past the tenant's queued builds with 429", async () => {
    const listed = await (await call("/v1/builds?limit=100", { headers: { Authorization: CAROL } })).json<BuildList>();
    const queued = listed.builds.filter((build) => build.state === "queued").length;
    for (let i = queued; i < 20; i++) expect((await submit({}, CAROL)).status).toBe(200);
    const refused = await submit({}, CAROL);
    expect(refused.status).toBe(429);
    expect(await refused.json()).toMatchObject({ field: "tenant", error: expect.stringMatching(/20 queued builds/) });
  });
});

describe("listing", () => {
  it("lists only the tenant's own builds, newest first, page by page", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await (await submit({}, BOB)).json<SeedAccepted>()).task_id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor ? `?limit=2&cursor=${cursor}` : "?limit=2";
      const page = await (await call(`/v1/builds${query}`, { headers: { Authorization: BOB } })).json<BuildList>();
      seen.push(...page.builds.map((build) => build.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen.slice(0, 3)).toEqual([...ids].reverse());
    const alices = await (await call("/v1/builds?limit=100", { headers: { Authorization: ALICE } })).json<BuildList>();
    expect(alices.builds.map((build) => build.id)).not.toContain(ids[0]);
  });

  it.each(["limit=0", "limit=abc", "cursor=nope", "colour=red"])("refuses the bad query %s with 400", async (query) => {
    const response = await call(`/v1/builds?${query}`, { headers: { Authorization: ALICE } });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ field: query.split("=")[0] });
  });
});

describe("hostile agent messages", () => {
  it("closes a socket that sends more than the message cap, or binary frames", async () => {
    for (const frame of ["x".repeat(300 * 1024), new Uint8Array([1, 2, 3])]) {
      const agent = await TestAgent.hello();
      agent.ws.send(frame);
      const closed = await agent.waitClosed();
      expect([1009, 4400]).toContain(closed.code);
    }
  });

  it("ignores phases, logs and results for a job the agent does not hold", async () => {
    expect((await submit({})).status).toBe(200);
    const holder = await TestAgent.hello("holder");
    // Whichever queued job is oldest, of whichever tenant, is now the holder's.
    const { jobId: id } = await holder.next("assign");
    const intruder = await TestAgent.hello("intruder");
    intruder.send({ type: "phase", jobId: id, attempt: 1, phase: "pushing" });
    intruder.send({ type: "log", jobId: id, attempt: 1, entries: ["forged line"] });
    intruder.send({ type: "result", jobId: id, attempt: 1, outcome: { status: "failed", step: "build", error: "forged" } });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await runInDurableObject(poolStub(env, DEFAULT_POOL), (_pool, state) => {
      expect(state.storage.sql.exec("SELECT state FROM jobs WHERE id = ?", id).one().state).toBe("assigned");
      const forged = state.storage.sql.exec("SELECT COUNT(*) AS n FROM log_lines WHERE job_id = ? AND line LIKE '%forged%'", id).one();
      expect(forged.n).toBe(0);
    });
    holder.ws.close();
    intruder.ws.close();
  });
});

describe("labels granted to agent tokens", () => {
  async function declare(auth: string, labels: Record<string, string>, headers: Record<string, string> = {}) {
    const agent = await TestAgent.connect(auth, headers);
    if (!(agent instanceof TestAgent)) throw new Error(`connect failed: ${agent.status}`);
    agent.send({ type: "hello", name: "labelled", version: "test", concurrency: 1, labels, holding: [] });
    return agent;
  }

  it("lets only the granted token declare a reserved label, and only with its value", async () => {
    const granted = await declare("Bearer gpu-token", { gpu: "true", arch: "amd64" });
    expect(await granted.next("welcome")).toMatchObject({ type: "welcome" });
    granted.ws.close();
    for (const [auth, labels, headers] of [
      ["Bearer agent-token", { gpu: "true" }, {}],
      ["Bearer gpu-token", { gpu: "false" }, {}],
      // The token name comes from the token, never from a header the agent sends.
      ["Bearer agent-token", { gpu: "true" }, { "X-Dockify-Agent-Token-Name": "gpu" }],
    ] as const) {
      const refused = await declare(auth, labels, headers);
      const closed = await refused.waitClosed();
      expect(closed.code).toBe(4403);
      expect(closed.reason).toMatch(/gpu=.* is not granted/);
    }
    const unreserved = await declare("Bearer agent-token", { arch: "arm64" });
    expect(await unreserved.next("welcome")).toMatchObject({ type: "welcome" });
    unreserved.ws.close();
  });
});
