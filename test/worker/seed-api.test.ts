import type { ErrorBody, SeedAccepted } from "../../shared/api";
import { describe, expect, it } from "vitest";
import { ALICE, BOB, call, storedContexts, submit } from "./helpers";

describe("seed contract", () => {
  it("answers GET / with the seed's 418 pointer to the docs", async () => {
    const response = await call("/");
    expect(response.status).toBe(418);
    expect(await response.json()).toEqual({ message: "Please go to /docs to interect with API" });
  });

  it("accepts a build, stores its context and reports processing", async () => {
    const response = await submit({ files: [{ name: "app.sh", content: "echo hi\n" }] });
    expect(response.status).toBe(200);
    const body = await response.json<SeedAccepted>();
    expect(body.image_reference).toBe("alice/web:v1");
    expect(body.status).toBe("Sent to processing queue");
    expect(body.data).toEqual({
      dockerfile: { filename: "Dockerfile", size: 27 },
      optional_files: { "app.sh": { size: 8 } },
    });
    expect(await storedContexts()).toContain(`contexts/${body.task_id}.tar`);
    const status = await call(`/status/${body.task_id}`, { headers: { Authorization: ALICE } });
    // No agent is connected in this test: the seed's "processing", saying why it waits.
    expect(await status.json()).toEqual({ status: "processing", waiting: "no build agent is connected to pool 'default'" });
  });
});

describe("auth and tenants", () => {
  it("refuses a build without a token, or with a wrong one, with 401 JSON", async () => {
    const before = await storedContexts();
    for (const auth of ["", "Bearer nope", "Basic abc", "Bearer bad token"]) {
      const response = await submit({}, auth);
      expect(response.status).toBe(401);
      expect(await response.json()).toMatchObject({ field: "Authorization" });
    }
    expect(await storedContexts()).toEqual(before);
  });

  it("answers 404 for an unknown id and for another tenant's build", async () => {
    const { task_id } = await (await submit()).json<SeedAccepted>();
    for (const [id, auth] of [[task_id, BOB], ["5d0f3c36-0000-4000-8000-000000000000", ALICE], ["not-a-job-id", ALICE]] as const) {
      const response = await call(`/status/${id}`, { headers: { Authorization: auth } });
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({ field: "task_id" });
      // The v1 routes name the same id after their own path parameter.
      for (const [method, path] of [["GET", ""], ["GET", "/logs"], ["POST", "/cancel"]] as const) {
        const v1 = await call(`/v1/builds/${id}${path}`, { method, headers: { Authorization: auth } });
        expect(v1.status).toBe(404);
        expect(await v1.json()).toEqual({ error: `no build with id '${id}'`, field: "id" });
      }
    }
  });
});

describe("bad input gets a 4xx naming the field and stores nothing", () => {
  const tag129 = "a".repeat(129);
  const cases: [string, Parameters<typeof submit>[0], number, string][] = [
    ["missing user_name", { query: { repo: "web" } }, 400, "user_name"],
    ["missing repo", { query: { user_name: "alice" } }, 400, "repo"],
    ["upper-case repo", { query: { user_name: "alice", repo: "Web" } }, 400, "repo"],
    ["repo with ..", { query: { user_name: "alice", repo: "a..b" } }, 400, "repo"],
    ["129-character tag", { query: { user_name: "alice", repo: "web", tag: tag129 } }, 400, "tag"],
    ["tag with whitespace", { query: { user_name: "alice", repo: "web", tag: "v 1" } }, 400, "tag"],
    ["registry with a bad port", { query: { user_name: "alice", repo: "web", registry: "127.0.0.1:99999" } }, 400, "registry"],
    ["registry with a scheme", { query: { user_name: "alice", repo: "web", registry: "https://r.example" } }, 400, "registry"],
    ["unknown field", { query: { user_name: "alice", repo: "web", colour: "red" } }, 400, "colour"],
    ["field in query and form", { query: { user_name: "alice", repo: "web" }, fields: { repo: "web" } }, 400, "repo"],
    ["no dockerfile", { dockerfile: null }, 400, "dockerfile"],
    ["empty dockerfile", { dockerfile: { name: "Dockerfile", content: "" } }, 400, "dockerfile"],
    ["dockerfile with another name", { dockerfile: { name: "build.txt", content: "FROM scratch" } }, 418, "dockerfile"],
    ["file escaping the context", { files: [{ name: "../x", content: "x" }] }, 400, "optional_files"],
    ["absolute file name", { files: [{ name: "/etc/passwd", content: "x" }] }, 400, "optional_files"],
    ["backslash in file name", { files: [{ name: "a\\b", content: "x" }] }, 400, "optional_files"],
    ["file named like the Dockerfile", { files: [{ name: "dockerfile", content: "x" }] }, 400, "optional_files"],
    ["duplicate file", { files: [{ name: "a", content: "1" }, { name: "a", content: "2" }] }, 400, "optional_files"],
    ["labels that are not k=v", { query: { user_name: "alice", repo: "web", labels: "gpu" } }, 400, "labels"],
    ["label with upper case name", { query: { user_name: "alice", repo: "web", labels: "GPU=true" } }, 400, "labels"],
    ["idempotency key with spaces", { headers: { "Idempotency-Key": "a b" } }, 400, "Idempotency-Key"],
    ["more than 32 labels", { query: { user_name: "alice", repo: "web", labels: Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(",") } }, 400, "labels"],
    ["a 256-byte Dockerfile upload name", { dockerfile: { name: `${"x".repeat(246)}Dockerfile`, content: "FROM scratch" } }, 400, "dockerfile"],
  ];

  it.each(cases)("%s", async (_name, build, status, field) => {
    const before = await storedContexts();
    const response = await submit(build);
    expect(response.status).toBe(status);
    expect(response.headers.get("Content-Type")).toContain("application/json");
    const body = await response.json<ErrorBody>();
    expect(body.field).toBe(field);
    expect(body.error.length).toBeGreaterThan(5);
    expect(await storedContexts()).toEqual(before);
  });

  it("refuses a body that is not multipart, and a malformed multipart body", async () => {
    const before = await storedContexts();
    const query = "/build?user_name=alice&repo=web";
    const json = await call(query, { method: "POST", headers: { Authorization: ALICE, "Content-Type": "application/json" }, body: "{}" });
    expect(json.status).toBe(415);
    const broken = await call(query, {
      method: "POST",
      headers: { Authorization: ALICE, "Content-Type": "multipart/form-data; boundary=xyz" },
      body: "--xyz\r\nContent-Disposition: form-data; name=\"dockerfile\"; filename=\"Dockerfile\"\r\n\r\nFROM scr",
    });
    expect(broken.status).toBe(400);
    expect(await broken.json()).toMatchObject({ field: "body" });
    expect(await storedContexts()).toEqual(before);
  });

  it("accepts the fields as form fields and the password in a header", async () => {
    const response = await submit({
      query: {},
      fields: { user_name: "alice", repo: "web", tag: "v2", registry: "127.0.0.1:5000" },
      headers: { "X-Registry-Password": "s3cret-pass" },
    });
    expect(response.status).toBe(200);
    const body = await response.json<SeedAccepted>();
    expect(body.image_reference).toBe("127.0.0.1:5000/alice/web:v2");
    expect(JSON.stringify(body)).not.toContain("s3cret-pass");
  });

  it("refuses a password with a control character in the form or the header, naming the field and storing nothing", async () => {
    const before = await storedContexts();
    for (const build of [{ fields: { password: "half-one\nhalf-two" } }, { headers: { "X-Registry-Password": "tab\there" } }]) {
      const response = await submit(build);
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({ field: "password", error: "password must not contain control characters (newline, tab, escape, …)" });
    }
    expect(await storedContexts()).toEqual(before);
  });
});

describe("duplicate submissions", () => {
  it("answers a retry with the same Idempotency-Key with the same job, storing one context", async () => {
    const before = await storedContexts();
    const first = await (await submit({ headers: { "Idempotency-Key": "retry-1" } })).json<SeedAccepted>();
    const again = await (await submit({ headers: { "Idempotency-Key": "retry-1" } })).json<SeedAccepted>();
    expect(again).toEqual(first);
    expect((await storedContexts()).length).toBe(before.length + 1);
    // Keys belong to a tenant: bob's same key is a different build.
    const bobs = await (await submit({ headers: { "Idempotency-Key": "retry-1" } }, BOB)).json<SeedAccepted>();
    expect(bobs.task_id).not.toBe(first.task_id);
  });

  it("refuses a key reused for a different image with 422, storing nothing", async () => {
    await submit({ headers: { "Idempotency-Key": "reused-1" } });
    const before = await storedContexts();
    const other = await submit({ query: { user_name: "alice", repo: "other" }, headers: { "Idempotency-Key": "reused-1" } });
    expect(other.status).toBe(422);
    expect(await other.json()).toMatchObject({ field: "Idempotency-Key", error: expect.stringMatching(/alice\/web:v1/) });
    expect(await storedContexts()).toEqual(before);
  });

  it("keeps one job when retries race each other", async () => {
    const responses = await Promise.all([1, 2, 3].map(() => submit({ headers: { "Idempotency-Key": "race-1" } })));
    const ids = new Set(await Promise.all(responses.map(async (response) => (await response.json<SeedAccepted>()).task_id)));
    expect(ids.size).toBe(1);
    const contexts = await storedContexts();
    expect(contexts.filter((key) => key === `contexts/${[...ids][0]}.tar`)).toHaveLength(1);
  });
});

