/**
 * Dockify's public HTTP API as a client for tests, the bench and scripts,
 * bound to one Worker and one token: the seed's `POST /build` and
 * `GET /status/{id}`, and the v1 build routes. Bodies are typed by
 * shared/api.ts, never retyped here; an answer that may be an error is typed as
 * the union (`ApiResponse<Build | ErrorBody>`), and `ok()` takes the success out.
 *
 *   const api = new ApiClient(stack.worker.url, stack.secrets.apiToken);
 *   const { task_id } = ok(await api.submitSeedBuild({ query, dockerfile }), 200);
 *   const final = await api.waitForStatus(task_id);
 *   for await (const message of api.followLog(id)) console.log(message);
 */
import type { z } from "zod";
import {
  encodeHeaderJson,
  EVENT_STREAM_TYPE,
  LOGINS_HEADER,
  SECRETS_HEADER,
  type BuildSecrets,
  type RegistryLogins,
  LAST_EVENT_ID_HEADER,
  type LogStreamMessage,
  CONTENT_DIGEST_HEADER,
  PASSWORD_HEADER,
  type AgentList,
  type ErrorBody,
  type Build,
  type buildFields,
  type BuildList,
  type CreateUploadRequest,
  type DeliveryList,
  type QueueSummary,
  type listBuildsQuery,
  type SeedAccepted,
  type SeedStatus,
  type tarballBuildQuery,
  type uploadBuildQuery,
  type UploadDetail,
  type UploadList,
  type UploadPart,
} from "../shared/api";
import { contentDigest } from "../shared/content-digest";
import { readLogStream } from "../shared/log-stream-reader";
import { createHash } from "node:crypto";
import { giveUp, notYet, poll } from "./poll";

const POLL_MS = 200;

/**
 * One poll's request gives up after this long and is asked again: under wrangler dev a request now and then gets no
 * answer at all, while the same request sent again is answered at once. The cause is wrangler's dev proxy, not the
 * Worker: when its fetch to the Worker fails on a keep-alive connection closed at that moment, wrangler 4.86.0's
 * ProxyWorker compares the whole URL (path included) with the Worker's origin, takes the error for a reload, and parks
 * a GET to be retried after a reload that never comes, answering nothing and logging nothing (cloudflare/workers-sdk
 * PR 14593 compares origins instead; other methods get its 503 "Your worker restarted mid-request").
 */
const REQUEST_TIMEOUT_MS = 10_000;
/** How often a single GET (not a poll, which has its own deadline) is asked before its timeout is the answer. */
const GET_ATTEMPTS = 3;

/** The signal for one poll's request: the whole wait's deadline, or this request's own timeout. */
function askOnce(deadline: AbortSignal): AbortSignal {
  return AbortSignal.any([deadline, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]);
}

/** A client error that asking again will not change (an unknown id, a bad token); 408 and 429 are worth a retry. */
function isFinalRefusal(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}
const STATUS_TIMEOUT_MS = 120_000;
const BUILD_TIMEOUT_MS = 60_000;

export interface ApiResponse<T> {
  /** e.g. `POST /build`, for messages. */
  request: string;
  status: number;
  /** Parsed JSON, or the raw text when the body is not JSON. */
  body: T;
  headers: Headers;
}

/** `GET /status/{id}` once it says the image is pushed. */
export type SeedSuccess = Extract<SeedStatus, { status: "success" }>;

/** A build request's image and routing fields, as text, wherever they travel. */
type BuildFieldsText = Partial<z.input<typeof buildFields>>;

export interface UploadFile {
  /** The multipart file name (a path inside the build context). */
  name: string;
  content: string | Uint8Array;
}

/** What `submitSeedBuild` sends; any part may be left out or wrong, for tests of the refusals. */
export interface SeedBuild extends Credentials {
  /** Query parameters, as the seed's own test sent them: user_name, repo, tag, registry, password. */
  query?: BuildFieldsText;
  /** The same text fields sent as multipart form fields instead. */
  fields?: BuildFieldsText;
  /** The `dockerfile` upload: its content (named `Dockerfile`) or a file with its own name. */
  dockerfile?: string | UploadFile;
  /** `optional_files` uploads. */
  files?: UploadFile[];
  headers?: Record<string, string>;
}

/** Logins and build secrets, sent in their headers. */
interface Credentials {
  /** X-Registry-Logins. */
  logins?: RegistryLogins;
  /** X-Build-Secrets. */
  secrets?: BuildSecrets;
}

export interface TarballOptions extends Credentials {
  /** Sent in its header, as the README tells clients to. */
  password?: string;
  headers?: Record<string, string>;
}

export interface WaitForStatusOptions {
  /** Done when this holds for a 200 answer; by default once the build is final (not `processing`). */
  until?: (status: SeedStatus) => boolean;
  /** 120 s by default. */
  timeoutMs?: number;
  /** 200 ms by default. */
  intervalMs?: number;
}

export interface FollowLogOptions {
  /** Resume after this message id (sent as Last-Event-ID). */
  lastEventId?: number;
  /** Ends the stream from the client's side. */
  signal?: AbortSignal;
  /** Ask with `?follow=1` instead of `Accept: text/event-stream`. */
  viaQuery?: boolean;
}

export interface WaitForBuildOptions {
  /** 60 s by default. */
  timeoutMs?: number;
  /** Names the wait in its timeout message (`canceled build <id>`). */
  what?: string;
}

/**
 * The body of a successful answer (2xx, or exactly `status` when given),
 * typed without its error half; throws with the request, status and body otherwise.
 */
export function ok<T>(response: ApiResponse<T | ErrorBody>, status?: number): T {
  const expected = status === undefined ? response.status >= 200 && response.status < 300 : response.status === status;
  if (!expected) {
    throw new Error(`${response.request}: HTTP ${response.status} ${JSON.stringify(response.body)}${status === undefined ? "" : `, expected ${status}`}`);
  }
  return response.body as T;
}

async function readResponse<T>(request: string, response: Response): Promise<ApiResponse<T>> {
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { request, status: response.status, body: body as T, headers: response.headers };
}

function blobOf(content: string | Uint8Array): Blob {
  return new Blob([typeof content === "string" ? content : Buffer.from(content)]);
}

/** Each value of a field that is set: a repeatable field (build_arg, also_push) once per value. */
function valuesOf(fields: Record<string, string | number | readonly string[] | undefined>): [string, string][] {
  return Object.entries(fields).flatMap(([key, value]) =>
    value === undefined ? [] : Array.isArray(value) ? value.map((item): [string, string] => [key, item]) : [[key, String(value)] as [string, string]],
  );
}

/** The fields that are set, as query parameters. */
function searchOf(fields: Record<string, string | number | readonly string[] | undefined>): string {
  const query = new URLSearchParams(valuesOf(fields));
  return query.size > 0 ? `?${query}` : "";
}

/** The logins and secrets headers, encoded as the README says (base64url JSON). */
function credentialHeaders({ logins, secrets }: { logins?: RegistryLogins; secrets?: BuildSecrets }): Record<string, string> {
  return {
    ...(logins && { [LOGINS_HEADER]: encodeHeaderJson(logins) }),
    ...(secrets && { [SECRETS_HEADER]: encodeHeaderJson(secrets) }),
  };
}

interface RequestParts {
  headers?: Record<string, string>;
  body?: FormData | Uint8Array | string;
  signal?: AbortSignal;
}

/** The base64 SHA-256 of `bytes`, as a part's Content-Digest carries it. */
export function sha256Base64(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("base64");
}

export class ApiClient {
  /**
   * @param url the Worker's base URL, no trailing slash
   * @param token the API token; undefined sends no Authorization header
   */
  constructor(
    readonly url: string,
    readonly token: string | undefined,
  ) {}

  /** The same Worker with another token (another tenant), or with none when `token` is undefined. */
  withToken(token: string | undefined): ApiClient {
    return new ApiClient(this.url, token);
  }

  /** `POST /build` as multipart/form-data. */
  submitSeedBuild(build: SeedBuild): Promise<ApiResponse<SeedAccepted | ErrorBody>> {
    const form = new FormData();
    for (const [key, value] of valuesOf(build.fields ?? {})) form.append(key, value);
    if (build.dockerfile !== undefined) {
      const dockerfile = typeof build.dockerfile === "string" ? { name: "Dockerfile", content: build.dockerfile } : build.dockerfile;
      form.append("dockerfile", blobOf(dockerfile.content), dockerfile.name);
    }
    for (const file of build.files ?? []) form.append("optional_files", blobOf(file.content), file.name);
    const headers = { ...credentialHeaders(build), ...build.headers };
    return this.#request("POST", `/build${searchOf(build.query ?? {})}`, { headers, body: form });
  }

  /** `GET /status/{id}` once. */
  status(id: string, signal?: AbortSignal): Promise<ApiResponse<SeedStatus | ErrorBody>> {
    return this.#request("GET", `/status/${encodeURIComponent(id)}`, { signal });
  }

  /** Polls `GET /status/{id}` until `until` holds for a 200 answer; throws with the last answer on timeout. */
  waitForStatus(id: string, options: WaitForStatusOptions = {}): Promise<SeedStatus> {
    const { until = (status) => status.status !== "processing", timeoutMs = STATUS_TIMEOUT_MS, intervalMs = POLL_MS } = options;
    return poll(
      `status of ${id}`,
      async (deadline) => {
        const response = await this.status(id, askOnce(deadline));
        const seen = `HTTP ${response.status} ${JSON.stringify(response.body)}`;
        if (isFinalRefusal(response.status)) return giveUp(seen);
        const status = response.status === 200 ? ok(response) : undefined;
        return status && until(status) ? status : notYet(seen);
      },
      { timeoutMs, intervalMs },
    );
  }

  /** `POST /v1/builds`: `tar` is the whole build context, Dockerfile included. */
  submitTarball(tar: Uint8Array, query: z.input<typeof tarballBuildQuery>, options: TarballOptions = {}): Promise<ApiResponse<Build | ErrorBody>> {
    const headers: Record<string, string> = { "Content-Type": "application/x-tar" };
    if (options.password !== undefined) headers[PASSWORD_HEADER] = options.password;
    return this.#request("POST", `/v1/builds${searchOf(query)}`, { headers: { ...headers, ...credentialHeaders(options), ...options.headers }, body: tar });
  }

  /** `POST /v1/builds?upload=<id>&…`: a build whose context is a completed chunked upload. */
  submitUploadBuild(query: z.input<typeof uploadBuildQuery>, options: TarballOptions = {}): Promise<ApiResponse<Build | ErrorBody>> {
    const headers: Record<string, string> = {};
    if (options.password !== undefined) headers[PASSWORD_HEADER] = options.password;
    return this.#request("POST", `/v1/builds${searchOf(query)}`, { headers: { ...headers, ...options.headers } });
  }

  /** `POST /v1/uploads`. */
  createUpload(request: CreateUploadRequest): Promise<ApiResponse<UploadDetail | ErrorBody>> {
    return this.#request("POST", "/v1/uploads", { headers: { "Content-Type": "application/json" }, body: JSON.stringify(request) });
  }

  /** `PUT /v1/uploads/{id}/parts/{number}` with the part's Content-Digest (the right one unless `sha256` says otherwise). */
  putPart(id: string, number: number, bytes: Uint8Array, sha256 = sha256Base64(bytes)): Promise<ApiResponse<UploadPart | ErrorBody>> {
    return this.#request("PUT", `/v1/uploads/${encodeURIComponent(id)}/parts/${number}`, {
      headers: { [CONTENT_DIGEST_HEADER]: contentDigest(sha256) },
      body: bytes,
    });
  }

  /** `GET /v1/uploads/{id}`: the upload and the parts that arrived. */
  upload(id: string): Promise<ApiResponse<UploadDetail | ErrorBody>> {
    return this.#request("GET", `/v1/uploads/${encodeURIComponent(id)}`);
  }

  /** `GET /v1/uploads`. */
  uploads(): Promise<ApiResponse<UploadList | ErrorBody>> {
    return this.#request("GET", "/v1/uploads");
  }

  /** `POST /v1/uploads/{id}/complete`: checks and re-packs the upload; it is then ready for a build. */
  completeUpload(id: string): Promise<ApiResponse<UploadDetail | ErrorBody>> {
    return this.#request("POST", `/v1/uploads/${encodeURIComponent(id)}/complete`);
  }

  /** `DELETE /v1/uploads/{id}`. */
  deleteUpload(id: string): Promise<ApiResponse<string | ErrorBody>> {
    return this.#request("DELETE", `/v1/uploads/${encodeURIComponent(id)}`);
  }

  /** `GET /v1/builds/{id}`. */
  build(id: string, signal?: AbortSignal): Promise<ApiResponse<Build | ErrorBody>> {
    return this.#request("GET", `/v1/builds/${encodeURIComponent(id)}`, { signal });
  }

  /** Polls `GET /v1/builds/{id}` until `done` holds for the record; returns it. */
  waitForBuild(id: string, done: (build: Build) => boolean, options: WaitForBuildOptions = {}): Promise<Build> {
    return poll(
      `${options.what ?? "build"} ${id}`,
      async (deadline) => {
        const response = await this.build(id, askOnce(deadline));
        const seen = `HTTP ${response.status} ${JSON.stringify(response.body)}`;
        if (isFinalRefusal(response.status)) return giveUp(seen);
        const build = response.status === 200 ? ok(response) : undefined;
        return build && done(build) ? build : notYet(seen);
      },
      { timeoutMs: options.timeoutMs ?? BUILD_TIMEOUT_MS, intervalMs: POLL_MS },
    );
  }

  /** `GET /v1/builds`: the tenant's builds, newest first, a page at a time. */
  list(page: Partial<z.output<typeof listBuildsQuery>> = {}): Promise<ApiResponse<BuildList | ErrorBody>> {
    return this.#request("GET", `/v1/builds${searchOf(page)}`);
  }

  /** `GET /v1/builds/{id}/logs` as text; throws on any answer but 200. */
  async log(id: string): Promise<string> {
    const path = `/v1/builds/${encodeURIComponent(id)}/logs`;
    // Text, never parsed: a log may hold anything, a line of JSON too.
    const response = await this.#fetch("GET", path);
    const text = await response.text();
    if (response.status !== 200) throw new Error(`GET ${path}: HTTP ${response.status} ${text}`);
    return text;
  }

  /**
   * `GET /v1/builds/{id}/logs` as a live Server-Sent Events stream: yields each
   * message, typed by shared/api.ts, until the server ends the stream (after
   * `end` or `cutoff`) or `signal` aborts; throws on any answer but 200.
   */
  async *followLog(id: string, options: FollowLogOptions = {}): AsyncGenerator<LogStreamMessage> {
    const path = `/v1/builds/${encodeURIComponent(id)}/logs${options.viaQuery ? "?follow=1" : ""}`;
    const headers: Record<string, string> = options.viaQuery ? {} : { Accept: EVENT_STREAM_TYPE };
    if (options.lastEventId !== undefined) headers[LAST_EVENT_ID_HEADER] = String(options.lastEventId);
    const response = await this.#fetch("GET", path, { headers, signal: options.signal });
    if (response.status !== 200 || !response.body) throw new Error(`GET ${path}: HTTP ${response.status} ${await response.text()}`);
    try {
      yield* readLogStream(response.body);
    } catch (error) {
      if (!options.signal?.aborted) throw error;
    }
  }

  /** `GET /v1/builds/{id}/deliveries`: the build's webhook deliveries with their attempts. */
  deliveries(id: string): Promise<ApiResponse<DeliveryList | ErrorBody>> {
    return this.#request("GET", `/v1/builds/${encodeURIComponent(id)}/deliveries`);
  }

  /** `GET /v1/agents`: the agents connected to the tenant's pool. */
  agents(): Promise<ApiResponse<AgentList | ErrorBody>> {
    return this.#request("GET", "/v1/agents");
  }

  /** `GET /v1/queue`. */
  queue(): Promise<ApiResponse<QueueSummary | ErrorBody>> {
    return this.#request("GET", "/v1/queue");
  }

  /** `POST /v1/builds/{id}/cancel`: 200 canceled at once, 202 while its agent stops it. */
  cancel(id: string): Promise<ApiResponse<Build | ErrorBody>> {
    return this.#request("POST", `/v1/builds/${encodeURIComponent(id)}/cancel`);
  }

  async #request<T>(method: string, path: string, init: RequestParts = {}): Promise<ApiResponse<T>> {
    const request = `${method} ${path.split("?")[0]}`;
    // A GET that wrangler dev parks (REQUEST_TIMEOUT_MS says why) is asked again; a caller's own signal decides alone.
    if (method !== "GET" || init.signal) return readResponse<T>(request, await this.#fetch(method, path, init));
    for (let attempt = 1; ; attempt++) {
      try {
        return await readResponse<T>(request, await this.#fetch(method, path, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) }));
      } catch (error) {
        if (attempt >= GET_ATTEMPTS || (error as Error).name !== "TimeoutError") throw error;
      }
    }
  }

  #fetch(method: string, path: string, { headers, body, signal }: RequestParts = {}): Promise<Response> {
    const auth: Record<string, string> = this.token === undefined ? {} : { Authorization: `Bearer ${this.token}` };
    return fetch(`${this.url}${path}`, { method, headers: { ...auth, ...headers }, body, signal });
  }
}
