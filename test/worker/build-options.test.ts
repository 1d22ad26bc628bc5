/**
 * Build options, logins and build secrets on both build endpoints (README, "Build options"): what the Worker takes,
 * what it refuses (a 400 naming the field, nothing stored), what the agent is handed, and that the secrets never
 * show in an answer, in storage in plain text, or in the log, and are gone once the build ends. Then where the pool
 * sends a build: the agent that built its repository last, and only an agent of the platform it names.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { pack } from "tar-stream";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { encodeHeaderJson, type Build, type ErrorBody, type QueueSummary, type SeedAccepted } from "../../shared/api";
import { renderEvent } from "../../shared/build-log";
import { AGENT_CAPABILITIES, type Assignment, type Platform } from "../../shared/protocol";
import { DEFAULT_POOL, poolStub } from "../../worker/pool/stub";
import { TestAgent } from "./agent-socket";
import { AGENT, ALICE, BOB, call, storedContexts, submit, uploadRows } from "./helpers";

const PASSWORD = "push-pw-Zq9x";
const KEY = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\nAQEFAASCBKcwggSjAgEAAoIB\n-----END KEY-----\n";
const LOGINS = { "127.0.0.1:5001": { username: "puller", password: "pull-pw-8hKd" }, "docker.io": { username: "hubby", password: "hub-pw-77xQ" } };
const SECRETS = { npmrc: "//registry/:_authToken=tok-3kf93kd", key: KEY };
const CREDENTIALS = { "X-Registry-Logins": encodeHeaderJson(LOGINS), "X-Build-Secrets": encodeHeaderJson(SECRETS) };
const PLAINTEXTS = [PASSWORD, "pull-pw-8hKd", "hub-pw-77xQ", "tok-3kf93kd", "MIIEvQIBADANBgkqhkiG9w0B"];

async function tarOf(entries: { name: string; content: string }[]): Promise<Uint8Array> {
  const archive = pack();
  for (const { name, content } of entries) archive.entry({ name }, content);
  archive.finalize();
  const chunks: Uint8Array[] = [];
  for await (const chunk of archive) chunks.push(chunk as Uint8Array);
  return new Uint8Array(await new Blob(chunks).arrayBuffer());
}

function postTarball(tar: Uint8Array, query: string, headers: Record<string, string> = {}, auth = ALICE): Promise<Response> {
  return call(`/v1/builds?${query}`, { method: "POST", headers: { Authorization: auth, "Content-Type": "application/x-tar", ...headers }, body: tar });
}

/** Every job row and stored context: what a refused request must leave as it found. */
async function stored(): Promise<{ jobs: number; contexts: string[] }> {
  const jobs = await runInDurableObject(poolStub(env, DEFAULT_POOL), (_pool, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM jobs").one().n);
  return { jobs, contexts: await storedContexts() };
}

/** The job's row as SQLite holds it, every column as text (blobs decoded), to look for plaintext in it. */
async function rowText(id: string): Promise<string> {
  return runInDurableObject(poolStub(env, DEFAULT_POOL), (_pool, state) => {
    const row = state.storage.sql.exec<Record<string, SqlStorageValue>>("SELECT * FROM jobs WHERE id = ?", id).one();
    return Object.values(row)
      .map((value) => (value instanceof ArrayBuffer ? new TextDecoder().decode(value) : String(value)))
      .join("\n");
  });
}

async function sealedColumns(id: string): Promise<{ password: boolean; credentials: boolean }> {
  return runInDurableObject(poolStub(env, DEFAULT_POOL), (_pool, state) => {
    const row = state.storage.sql.exec<{ p: number; c: number }>(
      "SELECT sealed_password IS NOT NULL AS p, sealed_credentials IS NOT NULL AS c FROM jobs WHERE id = ?",
      id,
    ).one();
    return { password: row.p === 1, credentials: row.c === 1 };
  });
}

beforeEach(async () => {
  await runInDurableObject(poolStub(env, DEFAULT_POOL), (_pool, state) => {
    for (const ws of state.getWebSockets()) ws.close(1000, "next test");
    state.storage.sql.exec("DELETE FROM agents");
    state.storage.sql.exec("DELETE FROM jobs WHERE finished_at IS NULL");
  });
});

describe("build options on POST /build (form fields) and POST /v1/builds (query parameters)", () => {
  it("hands every option, login and secret to the agent, and shows the options, never the secrets, on the record", async () => {
    const agent = await TestAgent.hello("opts");
    const response = await submit({
      query: { user_name: "alice", repo: "web", tag: "v1", registry: "127.0.0.1:5000", build_arg: "A=1" } as Record<string, string>,
      fields: { target: "final", no_cache: "1", also_push: "127.0.0.1:5001/mirror/web:v1" },
      headers: { "X-Registry-Password": PASSWORD, ...CREDENTIALS },
    });
    expect(response.status).toBe(200);
    const accepted = await response.json<SeedAccepted>();
    const id = accepted.task_id;
    const assign = await agent.next("assign");
    expect(assign).toMatchObject({
      jobId: id,
      image: { reference: "127.0.0.1:5000/alice/web:v1" },
      alsoPush: [{ registry: "127.0.0.1:5001", path: "mirror/web", tag: "v1", reference: "127.0.0.1:5001/mirror/web:v1" }],
      auth: { username: "alice", password: PASSWORD, serveraddress: "127.0.0.1:5000" },
      options: { dockerfile: "Dockerfile", buildArgs: { A: "1" }, target: "final", noCache: true },
    });
    expect(assign.logins).toEqual([
      { username: "puller", password: "pull-pw-8hKd", serveraddress: "127.0.0.1:5001" },
      { username: "hubby", password: "hub-pw-77xQ", serveraddress: "https://index.docker.io/v1/" },
    ]);
    expect(assign.secrets).toEqual([
      { id: "npmrc", value: SECRETS.npmrc },
      { id: "key", value: KEY },
    ]);
    expect(assign.cacheScope).toMatch(/^[0-9a-f]{32}$/);

    const record = await (await call(`/v1/builds/${id}`, { headers: { Authorization: ALICE } })).json<Build>();
    expect(record.options).toEqual({
      dockerfile: "Dockerfile",
      build_args: { A: "1" },
      target: "final",
      no_cache: true,
      platform: null,
      also_push: ["127.0.0.1:5001/mirror/web:v1"],
    });
    const answers = JSON.stringify([accepted, record]);
    const row = await rowText(id);
    for (const plaintext of PLAINTEXTS) {
      expect(answers).not.toContain(plaintext);
      expect(row).not.toContain(plaintext);
    }
    expect(await sealedColumns(id)).toEqual({ password: true, credentials: true });

    // The agent's output is redacted by the pool too: each login, each secret, each line of a secret of several.
    const fence = { jobId: id, attempt: assign.attempt };
    agent.send({ type: "log", ...fence, entries: [`pull-pw-8hKd and ${SECRETS.npmrc}`, "line: AQEFAASCBKcwggSjAgEAAoIB", Buffer.from("hub-pw-77xQ").toString("base64")] });
    // The pool takes one socket's frames in order, but the test client in workerd can deliver a later frame first (a
    // real agent's socket cannot; the same in pool.test.ts): the result waits until the pool has stored the batch.
    await vi.waitFor(async () => {
      const text = await (await call(`/v1/builds/${id}/logs`, { headers: { Authorization: ALICE } })).text();
      if (!text.includes("*** and ***")) throw new Error("the pool has not stored the log batch yet");
    }, { timeout: 5_000 });
    const digest = (n: string) => `sha256:${n.repeat(64)}`;
    const pushed = [
      { reference: "127.0.0.1:5000/alice/web:v1", digest: digest("a") },
      { reference: "127.0.0.1:5001/mirror/web:v1", digest: digest("b") },
    ];
    agent.send({ type: "result", ...fence, outcome: { status: "succeeded", digest: digest("a"), imageId: "sha256:abc", pushed } });
    const done = await waitForBuild(id, (build) => build.state === "succeeded");
    expect(done.pushed).toEqual(pushed);
    expect(await (await call(`/status/${id}`, { headers: { Authorization: ALICE } })).json()).toMatchObject({ status: "success", digest: digest("a"), pushed });
    const log = await (await call(`/v1/builds/${id}/logs`, { headers: { Authorization: ALICE } })).text();
    expect(log).toContain("*** and ***\nline: ***\n***");
    expect(log).not.toContain(Buffer.from("hub-pw-77xQ").toString("base64").slice(0, 12));
    for (const plaintext of PLAINTEXTS) expect(log).not.toContain(plaintext);
    // Wiped with the end of the build.
    expect(await sealedColumns(id)).toEqual({ password: false, credentials: false });
  });

  it("takes the options as query parameters on POST /v1/builds, and a Dockerfile elsewhere in the context", async () => {
    const agent = await helloFrom("v1", { os: "linux", architecture: "amd64" });
    const tar = await tarOf([{ name: "docker/app.Dockerfile", content: "FROM scratch\n" }]);
    const query =
      "user_name=alice&repo=web&tag=t1&build_arg=A=1&build_arg=B=two%3Dthree&target=t&no_cache=false&platform=linux/amd64" +
      "&also_push=alice/web:latest&dockerfile=docker/app.Dockerfile";
    const response = await postTarball(tar, query, { "X-Build-Secrets": encodeHeaderJson({ s: "value-42" }) });
    expect(response.status).toBe(202);
    const build = await response.json<Build>();
    expect(build.options).toEqual({
      dockerfile: "docker/app.Dockerfile",
      build_args: { A: "1", B: "two=three" },
      target: "t",
      no_cache: false,
      platform: "linux/amd64",
      also_push: ["alice/web:latest"],
    });
    const assign = await agent.next("assign");
    expect(assign.options).toEqual({ dockerfile: "docker/app.Dockerfile", buildArgs: { A: "1", B: "two=three" }, target: "t", noCache: false, platform: "linux/amd64" });
    // The agent reads the Dockerfile alone, with the lease, to check the images it names.
    expect(assign.dockerfilePath).toBe(`/agent/jobs/${build.id}/dockerfile`);
    const served = await call(assign.dockerfilePath!, { headers: { Authorization: AGENT, "X-Dockify-Lease": assign.leaseToken } });
    expect(served.status).toBe(200);
    expect(await served.text()).toBe("FROM scratch\n");
    const wrongLease = await call(assign.dockerfilePath!, { headers: { Authorization: AGENT, "X-Dockify-Lease": "x".repeat(64) } });
    expect(wrongLease.status).toBe(403);
    expect(assign.secrets).toEqual([{ id: "s", value: "value-42" }]);
    expect(assign.logins).toEqual([]);
    // The Dockerfile must be where the field says.
    const missing = await postTarball(await tarOf([{ name: "Dockerfile", content: "FROM scratch\n" }]), "user_name=alice&repo=web&dockerfile=sub/Dockerfile");
    expect(missing.status).toBe(400);
    expect(await missing.json()).toEqual({ error: "context: no regular file at sub/Dockerfile (the dockerfile field)", field: "context" });
    agent.ws.close();
  });

  it("serves the Dockerfile the Engine will build: a context names its path once, so no other entry can stand in for it", async () => {
    const before = await stored();
    const tar = await tarOf([
      { name: "Dockerfile", content: "FROM scratch\n" },
      { name: "./Dockerfile", content: "FROM 127.0.0.1:5000/evil/base:1\n" },
    ]);
    const response = await postTarball(tar, "user_name=alice&repo=web");
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ field: "context", error: expect.stringContaining("Dockerfile") });
    expect(await stored()).toEqual(before);
  });

  it("gives each tenant its own cache scope, the same for all its builds", async () => {
    const agent = await TestAgent.hello("scopes", 3);
    const scopes: string[] = [];
    for (const auth of [ALICE, ALICE, BOB]) {
      expect((await submit({}, auth)).status).toBe(200);
      scopes.push((await agent.next("assign")).cacheScope!);
    }
    expect(scopes[0]).toBe(scopes[1]);
    expect(scopes[2]).not.toBe(scopes[0]);
    agent.ws.close();
  });

  const V1 = "user_name=alice&repo=web";
  const refused: [string, string, Record<string, string>, string][] = [
    ["a build_arg that is not KEY=VALUE", `${V1}&build_arg=JUSTKEY`, {}, "build_arg"],
    ["a build_arg name that is not one", `${V1}&build_arg=1A=x`, {}, "build_arg"],
    ["a build_arg reserved to the builder", `${V1}&build_arg=BUILDKIT_CACHE_MOUNT_NS=x`, {}, "build_arg"],
    ["a build_arg given twice", `${V1}&build_arg=A=1&build_arg=A=2`, {}, "build_arg"],
    ["a build_arg value with a newline", `${V1}&build_arg=A=1%0A2`, {}, "build_arg"],
    ["too many build_args", `${V1}${Array.from({ length: 65 }, (_, i) => `&build_arg=A${i}=1`).join("")}`, {}, "build_arg"],
    ["a target that is not a stage name", `${V1}&target=-x`, {}, "target"],
    ["a target given twice", `${V1}&target=a&target=b`, {}, "target"],
    ["no_cache that is not a boolean", `${V1}&no_cache=yes`, {}, "no_cache"],
    ["a platform without an architecture", `${V1}&platform=linux`, {}, "platform"],
    ["a platform in capitals", `${V1}&platform=Linux/AMD64`, {}, "platform"],
    ["an also_push that is not a reference", `${V1}&also_push=Bad/Ref`, {}, "also_push"],
    ["an also_push by digest", `${V1}&also_push=r.io/a@sha256:${"a".repeat(64)}`, {}, "also_push"],
    ["an also_push naming the build's own reference", `${V1}&also_push=alice/web:latest`, {}, "also_push"],
    ["a dockerfile path escaping the context", `${V1}&dockerfile=../Dockerfile`, {}, "dockerfile"],
    ["a dockerfile path that is absolute", `${V1}&dockerfile=/Dockerfile`, {}, "dockerfile"],
    ["logins that are not base64url JSON", V1, { "X-Registry-Logins": "not json!" }, "X-Registry-Logins"],
    ["a login for a host that is not one", V1, { "X-Registry-Logins": encodeHeaderJson({ "https://r.io": { username: "u", password: "p" } }) }, "X-Registry-Logins"],
    ["a login without a password", V1, { "X-Registry-Logins": encodeHeaderJson({ "r.io": { username: "u" } }) }, "X-Registry-Logins"],
    ["a login password with a newline", V1, { "X-Registry-Logins": encodeHeaderJson({ "r.io": { username: "u", password: "a\nb" } }) }, "X-Registry-Logins"],
    ["a login user name with a colon", V1, { "X-Registry-Logins": encodeHeaderJson({ "r.io": { username: "u:v", password: "p" } }) }, "X-Registry-Logins"],
    [
      "too many logins",
      V1,
      { "X-Registry-Logins": encodeHeaderJson(Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`r${i}.io`, { username: "u", password: "p" }]))) },
      "X-Registry-Logins",
    ],
    // Hub by other names, and one host twice in other spellings: the agent would look either up as docker.io.
    ["a login for Docker.IO beside the password for docker.io", V1, { "X-Registry-Password": "p", "X-Registry-Logins": encodeHeaderJson({ "Docker.IO": { username: "u", password: "p" } }) }, "X-Registry-Logins"],
    ["a login for index.docker.io beside the password for docker.io", V1, { "X-Registry-Password": "p", "X-Registry-Logins": encodeHeaderJson({ "index.docker.io": { username: "u", password: "p" } }) }, "X-Registry-Logins"],
    ["two logins for one registry in two spellings", V1, { "X-Registry-Logins": encodeHeaderJson({ "docker.io": { username: "u", password: "p" }, "registry-1.docker.io": { username: "v", password: "q" } }) }, "X-Registry-Logins"],
    ["a login for the push registry beside the password", V1, { "X-Registry-Password": "p", "X-Registry-Logins": encodeHeaderJson({ "docker.io": { username: "u", password: "p" } }) }, "X-Registry-Logins"],
    ["secrets that are not an object", V1, { "X-Build-Secrets": encodeHeaderJson(["x"]) }, "X-Build-Secrets"],
    ["a secret id that is not one", V1, { "X-Build-Secrets": encodeHeaderJson({ "a b": "x" }) }, "X-Build-Secrets"],
    ["a secret with a control character", V1, { "X-Build-Secrets": encodeHeaderJson({ s: "a\u0007b" }) }, "X-Build-Secrets"],
    ["a secret over 64 KiB", V1, { "X-Build-Secrets": encodeHeaderJson({ s: "x".repeat(64 * 1024 + 1) }) }, "X-Build-Secrets"],
    // 257 lines of six characters: each would be looked for on its own, in every encoding, in every log line.
    ["secrets of more than 256 lines to redact", V1, { "X-Build-Secrets": encodeHeaderJson({ a: "abcdef\n".repeat(200), b: "ghijkl\n".repeat(57) }) }, "X-Build-Secrets"],
    // An object built from this JSON would drop the key: refused, never silently not passed nor redacted.
    ["a secret named __proto__", V1, { "X-Build-Secrets": encodeHeaderJson(JSON.parse('{"__proto__": "hidden-value-1"}')) }, "X-Build-Secrets"],
    ["a login for the host __proto__", V1, { "X-Registry-Logins": encodeHeaderJson(JSON.parse('{"__proto__": {"username": "u", "password": "hidden-pw-2"}}')) }, "X-Registry-Logins"],
    ["a build_arg named __proto__", `${V1}&build_arg=__proto__=x`, {}, "build_arg"],
    // JSON can carry half a surrogate pair; no URL encoding of it exists, so the redactor could not look for one.
    ["a secret with a lone surrogate", V1, { "X-Build-Secrets": encodeHeaderJson({ s: "\ud800abcdefgh" }) }, "X-Build-Secrets"],
    ["a login password with a lone surrogate", V1, { "X-Registry-Logins": encodeHeaderJson({ "r.io": { username: "u", password: "abcdefgh\udc00" } }) }, "X-Registry-Logins"],
    ["too many secrets", V1, { "X-Build-Secrets": encodeHeaderJson(Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`s${i}`, "x"]))) }, "X-Build-Secrets"],
  ];

  it.each(refused)("refuses %s with a 400 naming the field, storing nothing", async (_what, query, headers, field) => {
    const before = await stored();
    const response = await postTarball(await tarOf([{ name: "Dockerfile", content: "FROM scratch\n" }]), query, headers);
    expect(response.status).toBe(400);
    const body = await response.json<ErrorBody>();
    expect(body.field).toBe(field);
    // A refusal never echoes a secret back.
    for (const value of Object.values(headers)) expect(body.error).not.toContain(value);
    expect(await stored()).toEqual(before);
  });

  it("keeps a build that uses options from an agent too old to understand them, saying why; a plain build goes to it", async () => {
    const old = await TestAgent.connect();
    if (!(old instanceof TestAgent)) throw new Error("no socket");
    // A hello without capabilities: an agent released before build options, which would drop them unread.
    old.send({ type: "hello", name: "old-agent", version: "0.0.9", concurrency: 1, labels: {}, holding: [] });
    await old.next("welcome");
    const withArgs = await postTarball(await tarOf([{ name: "Dockerfile", content: "FROM scratch\n" }]), `${V1}&build_arg=A=1`);
    const { id } = await withArgs.json<Build>();
    const waiting = await (await call(`/v1/builds/${id}`, { headers: { Authorization: ALICE } })).json<Build>();
    expect(waiting.state).toBe("queued");
    expect(waiting.waiting).toMatch(/understands build options.*dockify-agent 0\.0\.9/);
    const plain = await postTarball(await tarOf([{ name: "Dockerfile", content: "FROM scratch\n" }]), V1);
    const assign = await old.next("assign");
    expect(assign.jobId).toBe((await plain.json<Build>()).id);
    old.ws.close();
  });

  it("refuses a tarball whose Dockerfile is over DOCKIFY_MAX_DOCKERFILE_BYTES with a 413 naming dockerfile, storing nothing", async () => {
    const before = await stored();
    const big = `FROM scratch\n${"# padding\n".repeat(7000)}`;
    for (const [query, name] of [[V1, "Dockerfile"], [`${V1}&dockerfile=sub/app.Dockerfile`, "sub/app.Dockerfile"]] as const) {
      const response = await postTarball(await tarOf([{ name: "Dockerfile", content: name === "Dockerfile" ? big : "FROM scratch\n" }, { name: "sub/app.Dockerfile", content: big }]), query);
      expect(response.status, name).toBe(413);
      expect((await response.json<ErrorBody>()).field, name).toBe("dockerfile");
    }
    expect(await stored()).toEqual(before);
  });

  it("takes a secret with Windows line ends (CRLF) and hands it over as it is", async () => {
    const agent = await TestAgent.hello("crlf");
    const pem = "-----BEGIN KEY-----\r\nMIIEvQIBADANBgkqhkiG9w0B\r\n-----END KEY-----\r\n";
    const response = await postTarball(await tarOf([{ name: "Dockerfile", content: "FROM scratch\n" }]), V1, { "X-Build-Secrets": encodeHeaderJson({ pem }) });
    expect(response.status).toBe(202);
    const assign = await agent.next("assign");
    expect(assign.secrets).toEqual([{ id: "pem", value: pem }]);
    agent.send({ type: "log", jobId: assign.jobId, attempt: assign.attempt, entries: ["key line: MIIEvQIBADANBgkqhkiG9w0B"] });
    await waitForLog(async () => (await call(`/v1/builds/${assign.jobId}/logs`, { headers: { Authorization: ALICE } })).text(), "key line: ***");
    agent.ws.close();
  });

  it("takes build arguments named like an object's own properties (constructor, toString) as any other", async () => {
    const agent = await TestAgent.hello("protos");
    const response = await postTarball(await tarOf([{ name: "Dockerfile", content: "FROM scratch\n" }]), `${V1}&build_arg=constructor=x&build_arg=toString=1&build_arg=hasOwnProperty=2`);
    expect(response.status).toBe(202);
    const assign = await agent.next("assign");
    expect(assign.options.buildArgs).toEqual({ constructor: "x", toString: "1", hasOwnProperty: "2" });
    agent.ws.close();
  });

  it("refuses oversized build arguments on POST /build with a 400 naming build_arg, storing nothing (never a 500)", async () => {
    const before = await stored();
    const euros = "€".repeat(4096);
    const cases: [string, string[]][] = [
      // Once a 500 (SQLITE_TOOBIG storing the job) after the context was stored.
      ["a 3,000,000-character name", [`${"A".repeat(3_000_000)}=x`]],
      ["a 257-character name", [`${"A".repeat(257)}=x`]],
      // Each within the per-argument bounds, together 64 × 12 KiB of UTF-8: more than an assignment should carry.
      ["64 names of 250 characters with 4,096 '€' each", Array.from({ length: 64 }, (_, i) => `${"A".repeat(247)}${String(i).padStart(3, "0")}=${euros}`)],
    ];
    for (const [what, args] of cases) {
      const form = new FormData();
      for (const arg of args) form.append("build_arg", arg);
      form.append("dockerfile", new File(["FROM scratch\n"], "Dockerfile"));
      const response = await call("/build?user_name=alice&repo=web", { method: "POST", headers: { Authorization: ALICE }, body: form });
      expect(response.status, what).toBe(400);
      const body = await response.json<ErrorBody>();
      expect(body.field, what).toBe("build_arg");
      expect(body.error.length, what).toBeLessThan(500);
    }
    const longName = await postTarball(await tarOf([{ name: "Dockerfile", content: "FROM scratch\n" }]), `${V1}&build_arg=${"B".repeat(257)}=1`);
    expect(longName.status).toBe(400);
    expect((await longName.json<ErrorBody>()).field).toBe("build_arg");
    expect(await stored()).toEqual(before);
    expect(await uploadRows()).toEqual([]);
  });

  it("fails a build whose assignment could not arrive at step agent, instead of handing it out again and again", async () => {
    const response = await submit({ query: { user_name: "alice", repo: "web", tag: "v1" } });
    const id = (await response.json<SeedAccepted>()).task_id;
    // Past every bound the request has: only a stored row can hold this (a bound added later and forgotten, say).
    const options = JSON.stringify({ dockerfile: "Dockerfile", buildArgs: { A: "x".repeat(1024 * 1024) }, noCache: false });
    await runInDurableObject(poolStub(env, DEFAULT_POOL), (_pool, state) => void state.storage.sql.exec("UPDATE jobs SET options = ? WHERE id = ?", options, id));
    const agent = await TestAgent.hello("small-messages");
    const record = await (await call(`/v1/builds/${id}`, { headers: { Authorization: ALICE } })).json<Build>();
    expect(record).toMatchObject({ state: "failed", step: "agent" });
    expect(record.error).toMatch(/assignment is \d+ bytes, more than the \d+ a message to an agent may carry/);
    agent.ws.close();
  });

  it("refuses the same fields on POST /build, as form fields or in the query, naming them", async () => {
    const before = await stored();
    const cases: [Parameters<typeof submit>[0], string][] = [
      [{ fields: { build_arg: "BUILDKIT_X=1" } }, "build_arg"],
      [{ fields: { platform: "linux" } }, "platform"],
      [{ query: { user_name: "alice", repo: "web", no_cache: "maybe" } }, "no_cache"],
      [{ fields: { also_push: "alice/web:v1" } }, "also_push"],
      [{ headers: { "X-Build-Secrets": "%%%" } }, "X-Build-Secrets"],
    ];
    for (const [build, field] of cases) {
      const response = await submit(build);
      expect(response.status, field).toBe(400);
      expect((await response.json<ErrorBody>()).field).toBe(field);
    }
    expect(await stored()).toEqual(before);
  });

  it("never takes logins or secrets from the query string", async () => {
    const response = await postTarball(await tarOf([{ name: "Dockerfile", content: "FROM scratch\n" }]), `${V1}&X-Build-Secrets=${encodeHeaderJson({ s: "x" })}`);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ field: "X-Build-Secrets" });
  });
});

async function waitForBuild(id: string, done: (build: Build) => boolean, auth = ALICE): Promise<Build> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const build = await (await call(`/v1/builds/${id}`, { headers: { Authorization: auth } })).json<Build>();
    if (done(build)) return build;
    if (Date.now() > deadline) throw new Error(`build ${id}: ${JSON.stringify(build)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Runs the assignment to a success, as an agent that pushed the job's reference. */
function succeed(agent: TestAgent, assign: Assignment): void {
  const digest = `sha256:${"c".repeat(64)}`;
  agent.send({ type: "result", jobId: assign.jobId, attempt: assign.attempt, outcome: { status: "succeeded", digest, imageId: "sha256:abc" } });
}

describe("where a build goes", () => {
  it("sends a rebuild of a repository to the agent that built it last, and says so in the log", async () => {
    const first = await TestAgent.hello("first", 2);
    const id = (await (await submit({ query: { user_name: "alice", repo: "affine", tag: "v1" } })).json<SeedAccepted>()).task_id;
    const assign = await first.next("assign");
    expect(assign.jobId).toBe(id);
    succeed(first, assign);
    await waitForBuild(id, (build) => build.state === "succeeded");

    // A second agent connects; another build (equally busy agents: the one connected first) keeps `first` busier, so
    // the least busy is now `second`. The rebuild goes to `first` all the same.
    const second = await TestAgent.hello("second", 2);
    const busy = (await (await submit({ query: { user_name: "alice", repo: "other", tag: "v1" } })).json<SeedAccepted>()).task_id;
    expect((await first.next("assign")).jobId).toBe(busy);
    const rebuild = (await (await submit({ query: { user_name: "alice", repo: "affine", tag: "v2" } })).json<SeedAccepted>()).task_id;
    expect((await first.next("assign")).jobId).toBe(rebuild);
    const log = await (await call(`/v1/builds/${rebuild}/logs`, { headers: { Authorization: ALICE } })).text();
    expect(log).toContain(renderEvent({ type: "assigned", attempt: 1, agent: "first", placement: { reason: "warm-cache" } }));

    // Another tenant's build of a repository of the same name has no history: affinity is per tenant.
    const bobs = (await (await submit({ query: { user_name: "bob", repo: "affine", tag: "v1" } }, BOB)).json<SeedAccepted>()).task_id;
    const bobLog = async () => (await (await call(`/v1/builds/${bobs}/logs`, { headers: { Authorization: BOB } })).text());
    await waitForLog(bobLog, "assigned to agent");
    expect(await bobLog()).toContain("the least busy (no agent of this pool has built this repository yet)");
    first.ws.close();
    second.ws.close();
  });

  it("does not send a rebuild to the classic-builder agent that built it last: it keeps no cache to be warm", async () => {
    const classic = await TestAgent.hello("classic-one", 2, {}, "classic");
    const id = (await (await submit({ query: { user_name: "alice", repo: "cold", tag: "v1" } })).json<SeedAccepted>()).task_id;
    const assign = await classic.next("assign");
    succeed(classic, assign);
    await waitForBuild(id, (build) => build.state === "succeeded");
    const rebuild = (await (await submit({ query: { user_name: "alice", repo: "cold", tag: "v2" } })).json<SeedAccepted>()).task_id;
    expect((await classic.next("assign")).jobId).toBe(rebuild);
    const log = await (await call(`/v1/builds/${rebuild}/logs`, { headers: { Authorization: ALICE } })).text();
    expect(log).not.toContain("warm");
    expect(log).toContain("no agent of this pool has built this repository yet");
    classic.ws.close();
  });

  it("keeps a build that names a platform waiting, saying why, until an agent of that platform connects", async () => {
    const amd = await TestAgent.hello("amd-only");
    const id = (await (await submit({ fields: { platform: "linux/arm64" } })).json<SeedAccepted>()).task_id;
    const reason = "no connected build agent of pool 'default' builds linux/arm64: the agents build an unknown platform (agents too old to say)";
    expect(await (await call(`/status/${id}`, { headers: { Authorization: ALICE } })).json()).toEqual({ status: "processing", waiting: reason });
    const queue = await (await call("/v1/queue", { headers: { Authorization: ALICE } })).json<QueueSummary>();
    expect(queue.reasons).toContainEqual({ kind: "unmatched", reason, builds: 1 });
    expect(amd.received.filter((message) => message.type === "assign")).toEqual([]);

    const arm = await helloFrom("arm", { os: "linux", architecture: "arm64", variant: "v8" });
    expect((await arm.next("assign")).jobId).toBe(id);
    amd.ws.close();
    arm.ws.close();
  });
});

/** An agent whose hello says what its Engine builds. */
async function helloFrom(name: string, platform: Platform): Promise<TestAgent> {
  const agent = await TestAgent.connect();
  if (!(agent instanceof TestAgent)) throw new Error(`connect failed: ${agent.status}`);
  agent.send({ type: "hello", name, version: "test", concurrency: 1, labels: {}, holding: [], platform, capabilities: [...AGENT_CAPABILITIES] });
  await agent.next("welcome");
  return agent;
}

async function waitForLog(read: () => Promise<string>, text: string): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!(await read()).includes(text)) {
    if (Date.now() > deadline) throw new Error(`the log never said ${text}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
