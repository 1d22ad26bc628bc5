import type { Build, ErrorBody, UploadDetail, UploadList } from "../../shared/api";
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { contentDigest } from "../../shared/content-digest";
import { DEFAULT_POOL, poolStub } from "../../worker/pool/stub";
import { archive, DOCKERFILE, file, header, hostileArchives } from "../fixtures/tar";
import { TestAgent } from "./agent-socket";
import { AGENT, call, gzip, listTar, storedBytes, storedKeys, uploadRows } from "./helpers";
import { buildOptions } from "../../shared/protocol";
import type { NewJob } from "../../worker/pool/records";
import { SWEEP_BATCH } from "../../worker/pool/uploads";

const ERIN = "Bearer erin-token";
const MiB = 1024 * 1024;
const PART = 5 * MiB;

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return btoa(String.fromCharCode(...digest));
}

function api(path: string, init: RequestInit = {}, auth = ERIN) {
  return call(path, { ...init, headers: { Authorization: auth, ...init.headers } });
}

async function create(size: number, partSize?: number, auth = ERIN): Promise<Response> {
  return api("/v1/uploads", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ size, part_size: partSize }) }, auth);
}

async function putPart(id: string, number: number, bytes: Uint8Array, digest?: string, auth = ERIN): Promise<Response> {
  return api(`/v1/uploads/${id}/parts/${number}`, {
    method: "PUT",
    headers: { "Content-Digest": contentDigest(digest ?? (await sha256(bytes))), "Content-Length": String(bytes.length) },
    body: bytes,
  }, auth);
}

/** Creates an upload of `bytes` and sends every part; returns its id. */
async function uploaded(bytes: Uint8Array, partSize = PART): Promise<string> {
  const created = await create(bytes.length, partSize);
  expect(created.status).toBe(201);
  const { id } = await created.json<UploadDetail>();
  for (let number = 1, at = 0; at < bytes.length; number++, at += partSize) {
    const response = await putPart(id, number, bytes.subarray(at, at + partSize));
    expect(response.status).toBe(200);
  }
  return id;
}

function complete(id: string, auth = ERIN) {
  return api(`/v1/uploads/${id}/complete`, { method: "POST" }, auth);
}

function detail(id: string, auth = ERIN) {
  return api(`/v1/uploads/${id}`, {}, auth);
}

/** A context of about `size` bytes: a Dockerfile and one file of filler. */
function contextOf(size: number, filler = 7): Uint8Array {
  const content = new Uint8Array(size).fill(filler);
  return archive([file("Dockerfile", DOCKERFILE), header({ name: "data/", typeflag: "5", mode: 0o755 }), file("data/blob", content)]);
}

/** Moves an upload's expiry (or its check's lock) into the past and runs the pool's alarm, as time passing would. */
async function expire(id: string, column: "expires_at" | "lock_expires_at" = "expires_at"): Promise<void> {
  const stub = poolStub(env, DEFAULT_POOL);
  await runInDurableObject(stub, (_pool, state) => {
    state.storage.sql.exec(`UPDATE uploads SET ${column} = ? WHERE id = ?`, Date.now() - 1, id);
  });
  await runDurableObjectAlarm(stub);
}

beforeEach(async () => {
  // Uploads of earlier tests would count against erin's limits.
  for (const { id } of (await (await api("/v1/uploads")).json<UploadList>()).uploads) await api(`/v1/uploads/${id}`, { method: "DELETE" });
});

describe("chunked uploads", () => {
  it("takes parts in any order, lists what arrived, and completes into a checked context a build then owns", async () => {
    const bytes = contextOf(11 * MiB);
    const created = await create(bytes.length, PART);
    expect(created.status).toBe(201);
    const upload = await created.json<UploadDetail>();
    expect(upload).toMatchObject({ state: "open", size: bytes.length, part_size: PART, part_count: 3, parts_received: 0, parts: [] });
    expect(created.headers.get("Location")).toBe(`/v1/uploads/${upload.id}`);
    // Out of order, and part 2 sent twice (a retry): the second replaces the first.
    for (const number of [3, 2, 1, 2]) {
      const part = bytes.subarray((number - 1) * PART, number * PART);
      const response = await putPart(upload.id, number, part);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ number, size: part.length, sha256: await sha256(part) });
    }
    const listed = await (await api("/v1/uploads")).json<UploadList>();
    expect(listed.uploads).toEqual([expect.objectContaining({ id: upload.id, parts_received: 3, received_bytes: bytes.length })]);
    expect((await (await detail(upload.id)).json<UploadDetail>()).parts.map((part) => part.number)).toEqual([1, 2, 3]);

    const completed = await complete(upload.id);
    expect(completed.status).toBe(200);
    const ready = await completed.json<UploadDetail>();
    expect(ready).toMatchObject({ state: "ready", context_bytes: expect.any(Number) });
    // The parts are gone; the checked context stays. Completing again answers the same.
    expect(await storedKeys(`uploads/${upload.id}/`)).toEqual([`uploads/${upload.id}/context.tar`]);
    expect((await (await complete(upload.id)).json<UploadDetail>()).state).toBe("ready");
    const entries = await listTar(await storedBytes(`uploads/${upload.id}/context.tar`));
    expect(entries.map(({ name, type, content }) => [name, type, content?.length])).toEqual([
      ["Dockerfile", "file", DOCKERFILE.length],
      ["data/", "directory", undefined],
      ["data/blob", "file", 11 * MiB],
    ]);

    const build = await api(`/v1/builds?upload=${upload.id}&user_name=erin&repo=big`, { method: "POST" });
    expect(build.status).toBe(202);
    const job = await build.json<Build>();
    expect(job.files).toEqual({ upload: { id: upload.id, size: bytes.length } });
    // The build took the upload: it is no longer listed, and cannot be built twice.
    expect((await detail(upload.id)).status).toBe(404);
    expect((await api(`/v1/builds?upload=${upload.id}&user_name=erin&repo=big`, { method: "POST" })).status).toBe(404);
    // The agent receives the checked context.
    const agent = await TestAgent.hello("upload-agent");
    const assign = await agent.next("assign");
    expect(assign.jobId).toBe(job.id);
    const context = await call(assign.contextPath, { headers: { Authorization: AGENT, "X-Dockify-Lease": assign.leaseToken } });
    expect(context.status).toBe(200);
    // Compared by digest: a failed comparison of megabytes prints more than the test runner can hold.
    expect(await sha256(new Uint8Array(await context.arrayBuffer()))).toBe(await sha256(await storedBytes(`uploads/${upload.id}/context.tar`)));
    await call(`/v1/builds/${job.id}/cancel`, { method: "POST", headers: { Authorization: ERIN } });
    await agent.next("cancel");
    agent.send({ type: "result", jobId: job.id, attempt: 1, outcome: { status: "canceled" } });
    // Ended, so its context no longer counts against erin's bytes in the tests after this one.
    for (let state = ""; state !== "canceled"; await new Promise((resolve) => setTimeout(resolve, 20))) {
      state = (await (await api(`/v1/builds/${job.id}`)).json<Build>()).state;
    }
    expect(await storedKeys(`uploads/${upload.id}/`)).toEqual([]);
    agent.ws.close();
  });

  it("refuses a part with a wrong checksum, keeping nothing of it, and takes it when sent again right", async () => {
    const bytes = contextOf(6 * MiB);
    const created = await (await create(bytes.length, PART)).json<UploadDetail>();
    const part = bytes.subarray(0, PART);
    const wrong = await putPart(created.id, 1, part, await sha256(new Uint8Array([1, 2, 3])));
    expect(wrong.status).toBe(400);
    expect(await wrong.json()).toMatchObject({ field: "Content-Digest", error: expect.stringMatching(/nothing was kept/) });
    expect(await storedKeys(`uploads/${created.id}/`)).toEqual([]);
    expect((await (await detail(created.id)).json<UploadDetail>()).parts_received).toBe(0);
    expect((await putPart(created.id, 1, part)).status).toBe(200);
    const first = await storedKeys(`uploads/${created.id}/`);
    expect(first).toEqual([expect.stringMatching(new RegExp(`^uploads/${created.id}/parts/1/[0-9a-f-]{36}$`))]);
    // Sent again: the new attempt's object replaces the first, which is deleted.
    expect((await putPart(created.id, 1, part)).status).toBe(200);
    const second = await storedKeys(`uploads/${created.id}/`);
    expect(second).toHaveLength(1);
    expect(second).not.toEqual(first);
  });

  it("keeps the stored part when a late request for the same number is refused; a part gone or not the one recorded gives the check back", async () => {
    const bytes = contextOf(1000);
    const id = await uploaded(bytes);
    const stub = poolStub(env, DEFAULT_POOL);
    const setState = (state: string) =>
      runInDurableObject(stub, (_pool, storage) => {
        storage.storage.sql.exec("UPDATE uploads SET state = ? WHERE id = ?", state, id);
      });
    const [stored] = await storedKeys(`uploads/${id}/`);
    expect(stored).toBeDefined();
    // A request for part 1 that was let in while the upload was open, and ends after it began to be checked: the pool
    // refuses to record it, and the request removes what it stored, never the part that was recorded.
    let reading!: () => void;
    const started = new Promise<void>((resolve) => (reading = resolve));
    let finish!: () => void;
    const gate = new Promise<void>((resolve) => (finish = resolve));
    let pulls = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (++pulls === 1) return controller.enqueue(bytes);
        reading();
        await gate;
        controller.close();
      },
    }, { highWaterMark: 0 });
    const late = api(`/v1/uploads/${id}/parts/1`, {
      method: "PUT",
      headers: { "Content-Digest": contentDigest(await sha256(bytes)), "Content-Length": String(bytes.length) },
      body,
    });
    await started;
    await setState("checking");
    finish();
    expect((await late).status).toBe(409);
    await setState("open");
    expect(await storedKeys(`uploads/${id}/`)).toEqual([stored]);
    // An object that is not the part recorded (same size, other bytes) is not used.
    const original = await (await env.BUCKET.get(stored!))!.arrayBuffer();
    await env.BUCKET.put(stored!, new Uint8Array(bytes.length).fill(1));
    const mismatch = await complete(id);
    expect(mismatch.status).toBe(409);
    expect(await mismatch.json()).toMatchObject({ field: "parts", error: expect.stringMatching(/part 1 in storage is not the part recorded/) });
    // The check is given back at once: the upload is open to take the part again, not locked until the lock lapses.
    expect((await (await detail(id)).json<UploadDetail>()).state).toBe("open");
    await env.BUCKET.delete(stored!);
    const gone = await complete(id);
    expect(gone.status).toBe(409);
    expect(await gone.json()).toMatchObject({ error: expect.stringMatching(/part 1 is gone/) });
    expect((await (await detail(id)).json<UploadDetail>()).state).toBe("open");
    expect((await putPart(id, 1, bytes)).status).toBe(200);
    expect((await (await complete(id)).json<UploadDetail>()).state).toBe("ready");
  });

  it("refuses parts that do not fit: length, number, digest header, and an upload that is not open", async () => {
    const bytes = contextOf(6 * MiB);
    const { id } = await (await create(bytes.length, PART)).json<UploadDetail>();
    const cases: [Promise<Response>, number, string][] = [
      [putPart(id, 1, bytes.subarray(0, 1000)), 400, "Content-Length"],
      [putPart(id, 3, bytes.subarray(0, 100)), 400, "number"],
      [putPart(id, 0, bytes.subarray(0, 100)), 400, "number"],
      [api(`/v1/uploads/${id}/parts/1`, { method: "PUT", body: bytes.subarray(0, PART) }), 400, "Content-Digest"],
      [putPart(crypto.randomUUID(), 1, bytes.subarray(0, 100)), 404, "id"],
      [putPart(id, 1, bytes.subarray(0, PART), undefined, "Bearer bob-token"), 404, "id"],
      [complete(id), 409, "parts"],
    ];
    for (const [pending, status, field] of cases) {
      const response = await pending;
      expect(response.status).toBe(status);
      expect(await response.json<ErrorBody>()).toMatchObject({ field });
    }
    expect(await storedKeys(`uploads/${id}/`)).toEqual([]);
  });

  it("refuses bad uploads when they are created: size, part size, part count", async () => {
    const cases: [Response, number, string][] = [
      [await create(0), 400, "size"],
      [await create(17 * MiB), 413, "size"],
      [await create(6 * MiB, MiB), 400, "part_size"],
      [await create(6 * MiB, 128 * MiB), 400, "part_size"],
      [await api("/v1/uploads", { method: "POST", headers: { "Content-Type": "application/json" }, body: '{"size": 10, "colour": 1}' }), 400, "colour"],
      [await api("/v1/uploads", { method: "POST", body: "size=10" }), 415, "Content-Type"],
    ];
    for (const [response, status, field] of cases) {
      expect(response.status).toBe(status);
      expect(await response.json<ErrorBody>()).toMatchObject({ field });
    }
    expect((await (await api("/v1/uploads")).json<UploadList>()).uploads).toEqual([]);
  });

  it("refuses an upload whose tar fails the check, and deletes it whole", async () => {
    for (const [, bytes] of hostileArchives().slice(0, 3)) {
      const id = await uploaded(bytes);
      const refused = await complete(id);
      expect(refused.status).toBe(400);
      expect(await refused.json()).toMatchObject({ field: "context", error: expect.stringMatching(/^context: /) });
      expect((await detail(id)).status).toBe(404);
      expect(await storedKeys(`uploads/${id}/`)).toEqual([]);
    }
    expect(await uploadRows()).toEqual([]);
  });

  it("takes a gzip-compressed upload, and refuses a gzip bomb as too large, deleting it", async () => {
    const plain = contextOf(3 * MiB);
    const id = await uploaded(await gzip(plain));
    const ready = await (await complete(id)).json<UploadDetail>();
    expect(ready.context_bytes).toBe(plain.length);
    const bomb = await gzip(contextOf(40 * MiB, 0));
    expect(bomb.length).toBeLessThan(MiB);
    const bombId = await uploaded(bomb);
    const refused = await complete(bombId);
    expect(refused.status).toBe(413);
    expect(await refused.json()).toMatchObject({ field: "context", error: expect.stringMatching(/larger than 16777216 bytes/) });
    expect(await storedKeys(`uploads/${bombId}/`)).toEqual([]);
  });

  it("keeps each tenant's uploads to itself", async () => {
    const id = await uploaded(contextOf(1000));
    for (const [path, method] of [[`/v1/uploads/${id}`, "GET"], [`/v1/uploads/${id}/complete`, "POST"], [`/v1/uploads/${id}`, "DELETE"]] as const) {
      const response = await api(path, { method }, "Bearer bob-token");
      expect(response.status).toBe(404);
    }
    expect((await api(`/v1/builds?upload=${id}&user_name=bob&repo=x`, { method: "POST" }, "Bearer bob-token")).status).toBe(404);
    expect((await (await api("/v1/uploads", {}, "Bearer bob-token")).json<UploadList>()).uploads.map((upload) => upload.id)).not.toContain(id);
    expect((await detail(id)).status).toBe(200);
  });

  it("counts open uploads against the tenant's bytes and number, and frees them when deleted", async () => {
    // This project's limits: 24 MiB a tenant (DOCKIFY_TENANT_MAX_CONTEXT_BYTES), 10 uploads (DOCKIFY_TENANT_MAX_UPLOADS).
    const big = await create(15 * MiB);
    expect(big.status).toBe(201);
    const over = await create(10 * MiB);
    expect(over.status).toBe(429);
    expect(await over.json()).toMatchObject({ field: "tenant", error: expect.stringMatching(/DOCKIFY_TENANT_MAX_CONTEXT_BYTES/) });
    const { id } = await big.json<UploadDetail>();
    expect((await api(`/v1/uploads/${id}`, { method: "DELETE" })).status).toBe(204);
    expect((await detail(id)).status).toBe(404);
    expect((await create(10 * MiB)).status).toBe(201);
    for (let i = 1; i < 10; i++) expect((await create(100)).status).toBe(201);
    const eleventh = await create(100);
    expect(eleventh.status).toBe(429);
    expect(await eleventh.json()).toMatchObject({ field: "tenant", error: expect.stringMatching(/DOCKIFY_TENANT_MAX_UPLOADS/) });
  });

  it("deletes an abandoned upload and its parts when the alarm finds it expired", async () => {
    const bytes = contextOf(6 * MiB);
    const { id } = await (await create(bytes.length, PART)).json<UploadDetail>();
    expect((await putPart(id, 1, bytes.subarray(0, PART))).status).toBe(200);
    // A part stored in the instant before a crash, never recorded: the sweep finds it by prefix.
    await env.BUCKET.put(`uploads/${id}/parts/2`, "orphan");
    await expire(id);
    expect((await detail(id)).status).toBe(404);
    expect(await storedKeys(`uploads/${id}/`)).toEqual([]);
    expect(await uploadRows()).toEqual([]);
  });

  it("opens an upload again when the request checking it died, and completes it then", async () => {
    const bytes = contextOf(1000);
    const id = await uploaded(bytes);
    // A check that began and then died: state checking, its half-written context in R2.
    await runInDurableObject(poolStub(env, DEFAULT_POOL), (_pool, state) => {
      state.storage.sql.exec("UPDATE uploads SET state = 'checking', check_attempt = 1, lock_expires_at = ? WHERE id = ?", Date.now() + 60_000, id);
    });
    await env.BUCKET.put(`uploads/${id}/context.tar`, "half-written");
    const busy = await complete(id);
    expect(busy.status).toBe(409);
    expect(await busy.json()).toMatchObject({ error: expect.stringMatching(/being checked already/) });
    await expire(id, "lock_expires_at");
    expect(await uploadRows()).toEqual([expect.objectContaining({ id, state: "open" })]);
    expect(await storedKeys(`uploads/${id}/`)).toEqual([expect.stringMatching(new RegExp(`^uploads/${id}/parts/1/`))]);
    expect((await (await complete(id)).json<UploadDetail>()).state).toBe("ready");
  });
});

describe("a request that dies while it writes a build's context", () => {
  it("leaves a row whose expiry makes the alarm abort its multipart upload and delete its object", async () => {
    const id = crypto.randomUUID();
    const key = `contexts/${id}.tar`;
    const stub = poolStub(env, DEFAULT_POOL);
    await stub.beginContextWrite(id, "erin", key, 10 * MiB);
    const multipart = await env.BUCKET.createMultipartUpload(key);
    await stub.recordMultipart(id, null, multipart.uploadId);
    await multipart.uploadPart(1, new Uint8Array(PART));
    // The request dies here: no build, no cleanup of its own.
    await expire(id);
    expect(await uploadRows()).toEqual([]);
    await expect(multipart.uploadPart(2, new Uint8Array(10))).rejects.toThrow();
    expect(await storedKeys(key)).toEqual([]);
    // A request that died after a small context's single put leaves an object: the sweep removes it too.
    const small = crypto.randomUUID();
    await stub.beginContextWrite(small, "erin", `contexts/${small}.tar`, 100);
    await env.BUCKET.put(`contexts/${small}.tar`, "x");
    await expire(small);
    expect(await storedKeys(`contexts/${small}.tar`)).toEqual([]);
  });

  it("stops a request, or a check, whose written bytes pass the tenant's byte limit at a renewal", async () => {
    const stub = poolStub(env, DEFAULT_POOL);
    const id = crypto.randomUUID();
    // erin's limit in this project is DOCKIFY_TENANT_MAX_CONTEXT_BYTES; a request reserved 100 bytes and wrote far more.
    await stub.beginContextWrite(id, "erin", `contexts/${id}.tar`, 100);
    expect(await stub.renewUpload(id, null, 1000)).toEqual({ ok: null });
    const over = await stub.renewUpload(id, null, Number.MAX_SAFE_INTEGER);
    expect(over).toMatchObject({ refused: { status: 429, field: "tenant", error: expect.stringMatching(/DOCKIFY_TENANT_MAX_CONTEXT_BYTES/) } });
    await stub.forgetUpload(id);
    const upload = await uploaded(contextOf(1000));
    await runInDurableObject(stub, (_pool, state) => {
      state.storage.sql.exec("UPDATE uploads SET state = 'checking', check_attempt = 1, lock_expires_at = ? WHERE id = ?", Date.now() + 60_000, upload);
    });
    expect(await stub.renewUpload(upload, 1, Number.MAX_SAFE_INTEGER)).toMatchObject({ refused: { status: 429, field: "tenant" } });
    expect(await stub.renewUpload(upload, 2, 0)).toMatchObject({ refused: { status: 409, field: "id" } });
  });

  it("keeps a live request's row: it renews it", async () => {
    const id = crypto.randomUUID();
    const stub = poolStub(env, DEFAULT_POOL);
    await stub.beginContextWrite(id, "erin", `contexts/${id}.tar`, 100);
    expect(await stub.renewUpload(id, null)).toEqual({ ok: null });
    await runDurableObjectAlarm(stub);
    expect(await uploadRows()).toEqual([expect.objectContaining({ id, kind: "request" })]);
    await stub.forgetUpload(id);
  });
});

describe("a build of an upload whose Dockerfile is elsewhere (dockerfile=…)", () => {
  it("is refused naming dockerfile when the upload has no file there, and built from the one named otherwise", async () => {
    const bytes = archive([file("Dockerfile", DOCKERFILE), file("docker/app.Dockerfile", "FROM scratch\nCOPY data /\n")]);
    const id = await uploaded(bytes);
    expect((await complete(id)).status).toBe(200);
    const missing = await api(`/v1/builds?upload=${id}&user_name=erin&repo=df&dockerfile=docker/other.Dockerfile`, { method: "POST" });
    expect(missing.status).toBe(400);
    expect(await missing.json<ErrorBody>()).toEqual({ error: "dockerfile: the upload's context has no regular file at docker/other.Dockerfile", field: "dockerfile" });
    // The refusal left the upload to build.
    expect((await detail(id)).status).toBe(200);
    const build = await api(`/v1/builds?upload=${id}&user_name=erin&repo=df&dockerfile=docker/app.Dockerfile`, { method: "POST" });
    expect(build.status).toBe(202);
    expect((await build.json<Build>()).options.dockerfile).toBe("docker/app.Dockerfile");
    const agent = await TestAgent.hello("upload-dockerfile");
    const assign = await agent.next("assign");
    const served = await call(assign.dockerfilePath!, { headers: { Authorization: AGENT, "X-Dockify-Lease": assign.leaseToken } });
    expect(await served.text()).toBe("FROM scratch\nCOPY data /\n");
    agent.ws.close();
  });
});

describe("removing an upload while something else takes it", () => {
  /** A job as submit.ts makes it; enqueue gives it the context of the upload it names. */
  function jobFrom(): NewJob {
    return {
      id: crypto.randomUUID(), tenant: "erin", registry: "127.0.0.1:5000", path: "erin/race", tag: "t", userName: "erin", labels: {},
      sealedPassword: null, sealedCredentials: null, options: buildOptions.parse({}), alsoPush: [],
      files: { tarball: { size: 1000 } }, contextKey: "unused", contextBytes: 1000, idempotencyKey: null, notifyUrl: null,
    };
  }

  it("refuses a build from an upload a DELETE is removing, while R2 is awaited", async () => {
    const id = await uploaded(contextOf(1000));
    expect((await complete(id)).status).toBe(200);
    await runInDurableObject(poolStub(env, DEFAULT_POOL), async (pool) => {
      // Started, not awaited: the delete now waits on R2, and the pool takes other calls meanwhile.
      const deleting = pool.deleteUpload(id, "erin");
      const taken = await pool.enqueue(jobFrom(), id);
      expect(taken).toMatchObject({ status: 409, refused: expect.stringMatching(/deleted before the build could take it/) });
      expect(pool.partTarget(id, "erin", 1)).toMatchObject({ refused: { status: 404 } });
      expect(await deleting).toBe(true);
    });
    expect(await uploadRows()).toEqual([]);
    expect(await storedKeys(`uploads/${id}/`)).toEqual([]);
  });

  it("refuses a build, a part or a check of an expired upload, swept or not yet", async () => {
    const id = await uploaded(contextOf(1000));
    expect((await complete(id)).status).toBe(200);
    const open = (await (await create(1000, PART)).json<UploadDetail>()).id;
    await runInDurableObject(poolStub(env, DEFAULT_POOL), async (pool, state) => {
      state.storage.sql.exec("UPDATE uploads SET expires_at = ? WHERE id IN (?, ?)", Date.now() - 1, id, open);
      expect(await pool.enqueue(jobFrom(), id)).toMatchObject({ status: 409 });
      const sweeping = pool.alarm();
      expect(await pool.enqueue(jobFrom(), id)).toMatchObject({ status: 409 });
      expect(await pool.recordPart(open, "erin", { number: 1, size: 1000, sha256: "x", key: "x" })).toMatchObject({ refused: { status: 404 } });
      expect(await pool.beginCheck(open, "erin")).toMatchObject({ refused: { status: 404 } });
      await sweeping;
    });
    expect(await uploadRows()).toEqual([]);
    expect(await storedKeys(`uploads/${id}/`)).toEqual([]);
  });

  /** Waits until the alarm's sweep has taken the lapsed lock of `id` (a new attempt) and is awaiting R2. */
  async function sweepTookLock(state: DurableObjectState, id: string, attempt: number): Promise<void> {
    const current = () => state.storage.sql.exec<{ a: number }>("SELECT check_attempt AS a FROM uploads WHERE id = ?", id).one().a;
    // Microtasks only: a timer would let the sweep's R2 calls finish too.
    for (let turns = 0; current() === attempt; turns++) {
      if (turns > 100_000) throw new Error("the sweep never took the lock");
      await Promise.resolve();
    }
  }

  it("holds a dead check's lock while the sweep cleans up, and leaves an upload a DELETE took meanwhile deleted", async () => {
    const id = await uploaded(contextOf(1000));
    const stub = poolStub(env, DEFAULT_POOL);
    await runInDurableObject(stub, async (pool, state) => {
      state.storage.sql.exec("UPDATE uploads SET state = 'checking', check_attempt = 1, lock_expires_at = ? WHERE id = ?", Date.now() - 1, id);
      const sweeping = pool.alarm();
      await sweepTookLock(state, id, 1);
      // The sweep is awaiting R2: a new check must wait, and the dead check's attempt is no longer the upload's.
      expect(await pool.beginCheck(id, "erin")).toMatchObject({ refused: { status: 409 } });
      expect(pool.renewUpload(id, 1)).toMatchObject({ refused: { status: 409 } });
      await sweeping;
    });
    expect(await uploadRows()).toEqual([expect.objectContaining({ id, state: "open" })]);
    await runInDurableObject(stub, async (pool, state) => {
      state.storage.sql.exec("UPDATE uploads SET state = 'checking', lock_expires_at = ? WHERE id = ?", Date.now() - 1, id);
      const attempt = state.storage.sql.exec<{ a: number }>("SELECT check_attempt AS a FROM uploads WHERE id = ?", id).one().a;
      const sweeping = pool.alarm();
      await sweepTookLock(state, id, attempt);
      const deleting = pool.deleteUpload(id, "erin");
      await sweeping;
      expect(await deleting).toBe(true);
    });
    // The sweep's "open again" did not bring back the row the DELETE removed.
    expect(await uploadRows()).toEqual([]);
    expect(await storedKeys(`uploads/${id}/`)).toEqual([]);
  });
});

describe("the sweep", () => {
  it("removes at most SWEEP_BATCH rows per alarm and sets the alarm again at once for the rest", async () => {
    const stub = poolStub(env, DEFAULT_POOL);
    const past = Date.now() - 1;
    const ids = Array.from({ length: SWEEP_BATCH + 3 }, () => crypto.randomUUID());
    await runInDurableObject(stub, (_pool, state) => {
      for (const id of ids) {
        state.storage.sql.exec(
          `INSERT INTO uploads (id, tenant, kind, state, size, part_size, context_key, created_at, updated_at, expires_at)
           VALUES (?, 'erin', 'parts', 'open', 1, 1, ?, ?, ?, ?)`,
          id, `uploads/${id}/context.tar`, past, past, past,
        );
      }
    });
    await runInDurableObject(stub, async (pool, state) => {
      await pool.alarm();
      expect(state.storage.sql.exec("SELECT id FROM uploads").toArray()).toHaveLength(3);
      // Set again for the rest, at once: they are still due.
      expect(await state.storage.getAlarm()).toBeLessThanOrEqual(Date.now());
    });
    // That alarm then runs by itself and takes them.
    await vi.waitFor(async () => expect(await uploadRows()).toEqual([]), { timeout: 5_000 });
  });
});

describe("an upload's Dockerfile over DOCKIFY_MAX_DOCKERFILE_BYTES (65536 here)", () => {
  const big = `FROM scratch\n${"# padding\n".repeat(7000)}`;

  it("is refused at completion with a 413 naming dockerfile when it is the root Dockerfile, and the upload is gone", async () => {
    const id = await uploaded(archive([file("Dockerfile", big)]));
    const response = await complete(id);
    expect(response.status).toBe(413);
    expect((await response.json<ErrorBody>()).field).toBe("dockerfile");
    expect((await detail(id)).status).toBe(404);
  });

  it("is refused at submission with a 413 naming dockerfile when the build names it, not accepted to fail later", async () => {
    const id = await uploaded(archive([file("Dockerfile", DOCKERFILE), file("docker/big.Dockerfile", big)]));
    expect((await complete(id)).status).toBe(200);
    const response = await api(`/v1/builds?upload=${id}&user_name=erin&repo=df&dockerfile=docker/big.Dockerfile`, { method: "POST" });
    expect(response.status).toBe(413);
    expect((await response.json<ErrorBody>()).field).toBe("dockerfile");
    // The refusal left the upload to build with another Dockerfile.
    expect((await detail(id)).status).toBe(200);
  });
});
