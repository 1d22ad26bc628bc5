/**
 * The CLI's HTTP client for the public API: every answer is checked against
 * its schema in shared/api.ts, and every failure becomes one sentence a user
 * can act on: a refusal shows the Worker's `error` and the `field` it names,
 * a network failure names the URL it could not reach.
 */
import type { z } from "zod";
import {
  build as buildSchema,
  buildList,
  errorBody,
  EVENT_STREAM_TYPE,
  LAST_EVENT_ID_HEADER,
  type Build,
  type BuildList,
  type LogStreamMessage,
} from "../shared/api";
import { describeError } from "../agent/errors";
import { readLogStream } from "../shared/log-stream-reader";
import { CliError } from "./errors";
import type { CliSettings } from "./settings";

/** An answer that was not the success asked for: the Worker's own words. */
export class ApiRefusal extends CliError {
  constructor(
    readonly request: string,
    readonly status: number,
    readonly error: string,
    readonly field: string | undefined,
  ) {
    super(`${request} was refused (HTTP ${status}): ${error}${field === undefined ? "" : ` [field: ${field}]`}`);
  }
}

/** The Worker could not be reached, or the connection broke. */
export class NetworkError extends CliError {}

export interface RequestOptions {
  headers?: Record<string, string>;
  body?: RequestInit["body"];
  signal?: AbortSignal;
}

export class DockifyClient {
  constructor(readonly settings: CliSettings) {}

  /** `POST /v1/builds/{id}/cancel`: 200 canceled at once, 202 while its agent stops it. */
  async cancel(id: string, signal?: AbortSignal): Promise<{ status: number; build: Build }> {
    const response = await this.fetch("POST", `/v1/builds/${encodeURIComponent(id)}/cancel`, { signal });
    return { status: response.status, build: await this.json(`POST /v1/builds/${id}/cancel`, response, buildSchema) };
  }

  async build(id: string, signal?: AbortSignal): Promise<Build> {
    const path = `/v1/builds/${encodeURIComponent(id)}`;
    return this.json(`GET ${path}`, await this.fetch("GET", path, { signal }), buildSchema);
  }

  async list(limit: number, cursor?: string): Promise<BuildList> {
    const query = new URLSearchParams({ limit: String(limit) });
    if (cursor !== undefined) query.set("cursor", cursor);
    return this.json("GET /v1/builds", await this.fetch("GET", `/v1/builds?${query}`), buildList);
  }

  /** `GET /v1/builds/{id}/logs` as text. */
  async logText(id: string): Promise<string> {
    const path = `/v1/builds/${encodeURIComponent(id)}/logs`;
    const response = await this.fetch("GET", path);
    if (response.status !== 200) throw await this.refusal(`GET ${path}`, response);
    return response.text();
  }

  /**
   * One connection to the live log: yields each message, typed, until the server closes the stream (after `end`
   * or `cutoff`), the connection breaks (a NetworkError), or `signal` aborts (then it returns quietly).
   */
  async *logStream(id: string, lastEventId: number | undefined, signal?: AbortSignal): AsyncGenerator<LogStreamMessage> {
    const path = `/v1/builds/${encodeURIComponent(id)}/logs`;
    const headers: Record<string, string> = { Accept: EVENT_STREAM_TYPE };
    if (lastEventId !== undefined) headers[LAST_EVENT_ID_HEADER] = String(lastEventId);
    const response = await this.fetch("GET", path, { headers, signal });
    if (response.status !== 200 || !response.body) throw await this.refusal(`GET ${path}`, response);
    try {
      yield* readLogStream(response.body);
    } catch (error) {
      if (signal?.aborted) return;
      throw new NetworkError(`the live log of ${id} from ${this.settings.url} broke off: ${describeError(error)}`);
    }
  }

  /** A request with the token; a NetworkError naming the URL when no answer comes. */
  async fetch(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const url = `${this.settings.url}${path}`;
    try {
      return await fetch(url, {
        method,
        headers: { Authorization: `Bearer ${this.settings.token}`, ...options.headers },
        body: options.body,
        signal: options.signal,
        // A stream body (the context) is sent as it is read.
        ...(options.body instanceof ReadableStream ? { duplex: "half" } : {}),
      } as RequestInit);
    } catch (error) {
      if (options.signal?.aborted) throw error;
      throw new NetworkError(`cannot reach the Dockify Worker at ${url.split("?")[0]}: ${describeError(error)}`);
    }
  }

  /** The body of a 2xx answer, checked against `schema`; the Worker's refusal otherwise. */
  async json<T extends z.ZodType>(request: string, response: Response, schema: T): Promise<z.output<T>> {
    if (response.status < 200 || response.status > 299) throw await this.refusal(request, response);
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new CliError(`${request}: the Worker answered HTTP ${response.status} with something that is not JSON: ${text.slice(0, 200)}`);
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      throw new CliError(`${request}: the Worker's answer is not what this CLI understands (${parsed.error.issues[0]?.message}); is the CLI as new as the Worker?`);
    }
    return parsed.data;
  }

  /** The Worker's `{error, field}` as an ApiRefusal; its text when the body is not one. */
  async refusal(request: string, response: Response): Promise<ApiRefusal> {
    const text = await response.text().catch(() => "");
    let body: unknown = undefined;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: shown as text
    }
    const parsed = errorBody.safeParse(body);
    if (parsed.success) return new ApiRefusal(request, response.status, parsed.data.error, parsed.data.field);
    return new ApiRefusal(request, response.status, text.trim().slice(0, 500) || response.statusText, undefined);
  }
}
