/**
 * Bodies that lie, sent with raw sockets (#13): one shorter than its
 * Content-Length whose client half-closes, and one that stops arriving. Each
 * upload route answers them (400 and 408 within DOCKIFY_BODY_IDLE_SECONDS),
 * keeps nothing, and the Worker goes on serving builds.
 *
 * wrangler dev puts a proxy of its own in front of the Worker, which answers
 * a request whose body breaks off with its own 503 ("Your worker restarted
 * mid-request") before the Worker's answer can reach it. So the short bodies
 * are sent twice: to the Worker's own socket inside wrangler dev, where the
 * client gets the Worker's 400 as it would in production, and through the
 * proxy, to show the 503 is the proxy's and the Worker lives on.
 */
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ok } from "../../harness/api";
import { r2Blobs } from "../../harness/persist";
import { notYet, poll } from "../../harness/poll";
import { startStack, type Stack } from "../../harness/stack";
import { archive, DOCKERFILE, file } from "../fixtures/tar";

const IDLE_SECONDS = 2;
const MiB = 1024 * 1024;
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ vars: { DOCKIFY_BODY_IDLE_SECONDS: String(IDLE_SECONDS) } });
});

afterAll(async () => {
  await stack?.stop();
});

interface RawAnswer {
  status: number;
  body: string;
  ms: number;
}

interface RawRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  /** What is sent of the body: less than `declared`. */
  sent: Uint8Array;
  declared: number;
}

/**
 * Sends the request head and part of its body on a raw socket, then half-closes (`short`) or sends nothing more
 * (`stall`); resolves with the answer once its Content-Length of body has arrived.
 */
function rawRequest(baseUrl: string, request: RawRequest, mode: "short" | "stall"): Promise<RawAnswer> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(Number(port), hostname);
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer in 30 s; got ${JSON.stringify(received.toString("latin1").slice(0, 300))}`));
    }, 30_000);
    socket.on("data", (data) => {
      received = Buffer.concat([received, data]);
      const text = received.toString("latin1");
      const headEnd = text.indexOf("\r\n\r\n");
      if (headEnd === -1) return;
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(text.slice(0, headEnd))?.[1] ?? NaN);
      if (Number.isNaN(length) || received.length - headEnd - 4 < length) return;
      clearTimeout(timer);
      socket.destroy();
      resolve({ status: Number(text.split(" ")[1]), body: received.subarray(headEnd + 4, headEnd + 4 + length).toString("utf8"), ms: Date.now() - started });
    });
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    const head = Object.entries({ Host: `${hostname}:${port}`, ...request.headers, "Content-Length": String(request.declared) })
      .map(([key, value]) => `${key}: ${value}\r\n`)
      .join("");
    socket.write(`${request.method} ${request.path} HTTP/1.1\r\n${head}\r\n`);
    socket.write(request.sent);
    if (mode === "short") socket.end();
  });
}

const auth = () => ({ Authorization: `Bearer ${stack.secrets.apiToken}` });
const query = (tag: string) => `user_name=alice&repo=lying&tag=${tag}`;

/** A tar body's first 1 KiB, declared as 64 KiB. */
function tarballRequest(tag: string): RawRequest {
  const tar = archive([file("Dockerfile", DOCKERFILE), file("big", new Uint8Array(60_000))]);
  return { method: "POST", path: `/v1/builds?${query(tag)}`, headers: { ...auth(), "Content-Type": "application/x-tar" }, sent: tar.subarray(0, 1024), declared: tar.length };
}

/** The seed form's first bytes, declared as 100 KiB. */
function formRequest(tag: string): RawRequest {
  const boundary = "lyingboundary";
  const start = `--${boundary}\r\nContent-Disposition: form-data; name="dockerfile"; filename="Dockerfile"\r\n\r\nFROM scratch\n`;
  return {
    method: "POST",
    path: `/build?${query(tag)}`,
    headers: { ...auth(), "Content-Type": `multipart/form-data; boundary=${boundary}` },
    sent: new TextEncoder().encode(start),
    declared: 100_000,
  };
}

/** Part 1 of a new upload (5 MiB), of which 1 MiB is sent. */
async function partRequest(): Promise<RawRequest> {
  const upload = ok(await stack.api.createUpload({ size: 6 * MiB, part_size: 5 * MiB }), 201);
  const digest = "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:";
  return { method: "PUT", path: `/v1/uploads/${upload.id}/parts/1`, headers: { ...auth(), "Content-Digest": digest }, sent: new Uint8Array(MiB), declared: 5 * MiB };
}

describe("bodies that lie", () => {
  let blobsBefore: string[] = [];

  beforeAll(() => {
    blobsBefore = r2Blobs(stack.worker.persistDir).map(({ path }) => path).sort();
  });

  it(`answers a body that stops arriving 408 within DOCKIFY_BODY_IDLE_SECONDS (${IDLE_SECONDS} s), on every upload route`, async () => {
    for (const request of [tarballRequest("stalled"), formRequest("stalled"), await partRequest()]) {
      const answer = await rawRequest(stack.worker.url, request, "stall");
      expect(answer.status, request.path).toBe(408);
      expect(JSON.parse(answer.body), request.path).toMatchObject({ field: "body", error: expect.stringMatching(/DOCKIFY_BODY_IDLE_SECONDS/) });
      expect(answer.ms).toBeGreaterThanOrEqual(IDLE_SECONDS * 1000 - 100);
      expect(answer.ms).toBeLessThan(IDLE_SECONDS * 1000 + 3000);
    }
  });

  it("answers a body shorter than its Content-Length 400 naming the body, on every upload route", async () => {
    const workerSocket = await stack.worker.workerSocketUrl();
    for (const request of [tarballRequest("short"), formRequest("short"), await partRequest()]) {
      const answer = await rawRequest(workerSocket, request, "short");
      expect(answer.status, request.path).toBe(400);
      expect(JSON.parse(answer.body), request.path).toMatchObject({ field: "body", error: expect.stringMatching(/body (ended|broke off) after|cut off/) });
    }
  });

  it("kept nothing of them, and builds as before", async () => {
    const { builds } = ok(await stack.api.list({ limit: 100 }));
    expect(builds.filter((build) => build.image_reference.includes("lying"))).toEqual([]);
    const { uploads } = ok(await stack.api.uploads());
    expect(uploads.every((upload) => upload.parts_received === 0)).toBe(true);
    for (const upload of uploads) ok(await stack.api.deleteUpload(upload.id));
    await poll("R2's blobs back to what they were", () => {
      const now = r2Blobs(stack.worker.persistDir).map(({ path }) => path).sort();
      return JSON.stringify(now) === JSON.stringify(blobsBefore) ? now : notYet(`${now.length} blobs, ${blobsBefore.length} before`);
    }, { timeoutMs: 10_000, intervalMs: 200 });
    const tar = archive([file("Dockerfile", `FROM ${stack.baseImage}\nRUN echo fine\n`)]);
    const query = { user_name: stack.secrets.registryUser, repo: "after-lies", registry: stack.registry.host };
    const { id } = ok(await stack.api.submitTarball(tar, query, { password: stack.secrets.registryPassword }), 202);
    expect(await stack.api.waitForStatus(id)).toMatchObject({ status: "success" });
    // Every refusal ended cleanly: nothing uncaught in the Worker.
    expect(stack.worker.output()).not.toMatch(/Uncaught|unhandled/i);
  });

  it("lives on when wrangler's dev proxy answers a short body with its own 503", async () => {
    const from = stack.worker.output().length;
    const answer = await rawRequest(stack.worker.url, tarballRequest("short-proxied"), "short");
    expect(answer.status).toBe(503);
    expect(answer.body).toMatch(/Your worker restarted mid-request/);
    // The proxy reports its own failed forward as uncaught; nothing else is.
    const uncaught = await poll("the proxy's report", () => {
      const lines = stack.worker.output().slice(from).match(/Uncaught[^\n]*/g) ?? [];
      return lines.length > 0 ? lines : notYet("none yet");
    }, { timeoutMs: 5_000, intervalMs: 100 });
    expect(uncaught).toEqual([expect.stringMatching(/^Uncaught Error: Network connection lost/)]);
    const root = await fetch(`${stack.worker.url}/`);
    expect(root.status).toBe(418);
    expect(stack.worker.process.running).toBe(true);
  });


});
