/** The v1 builds API: submit a tarball, list, one build's record and log, and cancel. Each answer is one call to the pool. */
import { Hono, type HonoRequest } from "hono";
import { resolver } from "hono-openapi";
import {
  build,
  buildId,
  buildIdParams,
  buildList,
  deliveryList,
  type DeliveryList,
  EVENT_STREAM_TYPE,
  FOLLOW_QUERY,
  followHeaders,
  followQuery,
  LAST_EVENT_ID_HEADER,
  lastEventId,
  LIST_CURSOR,
  listBuildsQuery,
  logStreamMessage,
  submitBuildQuery,
  submitHeaders,
  type BuildList,
} from "../../shared/api";
import { requireApiToken } from "../auth";
import type { AppEnv } from "../env";
import { ApiError, unknownBuild } from "../errors";
import { AUTH_ERRORS, documents, errors, json, route, SECURITY, validated } from "../openapi/describe";
import { followRequest } from "../pool/follow-request";
import { tenantPoolStub } from "../pool/stub";
import { readBuildQuery, readTarballRequest } from "../requests/tarball";
import { readUploadBuildRequest } from "../requests/upload-build";
import { toBuild } from "../responses";
import { settings } from "../settings";
import { submitBuild } from "../submit";

export const buildRoutes = new Hono<AppEnv>();

buildRoutes.use(requireApiToken);

/** The build's id from the path; anything that is not one is as unknown as an id no build has. */
function idParam(id: string): string {
  if (!buildId.safeParse(id).success) throw unknownBuild(id, "id");
  return id;
}

const UNKNOWN_BUILD = { 404: "no build with this id (or another tenant's)" } as const;

/** A build whose context is the request body, a tar, or a completed upload (`upload=<id>`); answers 202 with the build's record. */
buildRoutes.post(
  "/builds",
  route({
    tags: ["builds"],
    summary: "Submit a build whose context is the request body (a tar, gzip-compressed or not) or a completed upload (upload=<id>)",
    description:
      "The tar needs a regular file Dockerfile at its root; whether it is gzip is read from its first bytes. It is checked entry by " +
      "entry as it streams, never extracted, and stored written anew from the checked entries. With `upload=<id>` (a chunked upload " +
      "in state ready, see /v1/uploads) the request has no body, and the build takes the upload over.",
    security: SECURITY.api,
    requestBody: {
      required: false,
      description: "the whole build context; none with upload=<id>",
      content: Object.fromEntries(
        ["application/x-tar", "application/gzip", "application/x-gzip"].map((type) => [type, { schema: { type: "string", contentMediaType: type } }]),
      ),
    },
    responses: {
      202: json(build, "accepted: the build's record"),
      ...errors({
        400: "a field or the tarball is invalid (named in `field`; `context` for the tarball), the body ended or broke off before its Content-Length (`body`), or a build from an upload has a body",
        ...AUTH_ERRORS,
        403: "a label reserved to agents outside the tenant's pool",
        404: "no upload with the id `upload` names (or another tenant's)",
        408: "no bytes of the body arrived for DOCKIFY_BODY_IDLE_SECONDS (named `body`)",
        409: "the upload is not completed yet, or was deleted before the build could take it",
        411: "no Content-Length",
        413: "the body is over DOCKIFY_MAX_REQUEST_BYTES, or the context is over DOCKIFY_MAX_CONTEXT_BYTES once decompressed",
        415: "not a tar (application/x-tar, application/gzip or application/x-gzip)",
        422: "the Idempotency-Key was used for another image",
        429: "the tenant has too many builds waiting, or too many bytes of contexts stored",
      }),
    },
  }),
  documents("query", submitBuildQuery),
  documents("header", submitHeaders),
  async (c) => {
    const tenant = c.get("tenant");
    const { spec, upload } = readBuildQuery(c.req.raw);
    const request =
      upload === undefined
        ? readTarballRequest(c.req.raw, spec, settings(c.env))
        : await readUploadBuildRequest(c.req.raw, spec, upload, tenantPoolStub(c.env, tenant), tenant);
    const job = await submitBuild(c.env, tenant, request);
    return c.json(toBuild(job), 202);
  },
);

/** The tenant's builds, newest first; `next_cursor` fetches the page after this one. */
buildRoutes.get(
  "/builds",
  route({
    tags: ["builds"],
    summary: "The tenant's builds, newest first, a page at a time",
    security: SECURITY.api,
    responses: { 200: json(buildList, "a page of builds"), ...errors({ 400: "limit or cursor is invalid", ...AUTH_ERRORS }) },
  }),
  validated("query", listBuildsQuery, "limit and cursor"),
  async (c) => {
    const { limit, cursor } = c.req.valid("query");
    const match = cursor ? LIST_CURSOR.exec(cursor) : null;
    const after = match ? { createdAt: Number(match[1]), id: match[2]! } : undefined;
    const jobs = await tenantPoolStub(c.env, c.get("tenant")).list(c.get("tenant"), limit, after);
    const last = jobs.length === limit ? jobs[jobs.length - 1] : undefined;
    const page: BuildList = { builds: jobs.map(toBuild), next_cursor: last ? `${last.createdAt}.${last.id}` : null };
    return c.json(page);
  },
);

buildRoutes.get(
  "/builds/:id",
  route({
    tags: ["builds"],
    summary: "One build's record",
    security: SECURITY.api,
    responses: { 200: json(build, "the record"), ...errors({ ...AUTH_ERRORS, ...UNKNOWN_BUILD }) },
  }),
  documents("param", buildIdParams),
  async (c) => {
    const id = idParam(c.req.param("id"));
    const job = await tenantPoolStub(c.env, c.get("tenant")).describe(id, c.get("tenant"));
    if (!job) throw unknownBuild(id, "id");
    return c.json(toBuild(job));
  },
);

buildRoutes.post(
  "/builds/:id/cancel",
  route({
    tags: ["builds"],
    summary: "Cancel a build: a queued one at once (200), a running one once its agent stops it (202)",
    security: SECURITY.api,
    responses: {
      200: json(build, "canceled at once: it had not started"),
      202: json(build, "its agent was told to stop; it ends canceled within seconds"),
      ...errors({ ...AUTH_ERRORS, ...UNKNOWN_BUILD, 409: "the build has already ended" }),
    },
  }),
  documents("param", buildIdParams),
  async (c) => {
    const id = idParam(c.req.param("id"));
    const canceled = await tenantPoolStub(c.env, c.get("tenant")).cancel(id, c.get("tenant"));
    if (!canceled) throw unknownBuild(id, "id");
    if (canceled.outcome === "finished") {
      throw new ApiError(409, `build '${id}' has already ended (${canceled.job.state}) and cannot be canceled`, "id");
    }
    // 202: the agent has been told and the build ends canceled within seconds.
    return c.json(toBuild(canceled.job), canceled.outcome === "canceled" ? 200 : 202);
  },
);

buildRoutes.get(
  "/builds/:id/deliveries",
  route({
    tags: ["builds"],
    summary: "The build's webhook deliveries, each with its attempts and their status codes",
    security: SECURITY.api,
    responses: { 200: json(deliveryList, "the deliveries (none while the build runs, or when it names no notify_url)"), ...errors({ ...AUTH_ERRORS, ...UNKNOWN_BUILD }) },
  }),
  documents("param", buildIdParams),
  async (c) => {
    const id = idParam(c.req.param("id"));
    const deliveries = await tenantPoolStub(c.env, c.get("tenant")).deliveriesOf(id, c.get("tenant"));
    if (!deliveries) throw unknownBuild(id, "id");
    const list: DeliveryList = { deliveries };
    return c.json(list);
  },
);

/** Whether the client asked for the live log: `Accept: text/event-stream`, or `?follow=1`. */
function wantsLiveLog(request: HonoRequest): boolean {
  const follow = request.query(FOLLOW_QUERY);
  if (follow === "1" || follow === "true") return true;
  if (follow !== undefined && follow !== "0" && follow !== "false") {
    throw new ApiError(400, `${FOLLOW_QUERY} must be 1 (or true) to follow the log live, or 0`, FOLLOW_QUERY);
  }
  return follow === undefined && (request.header("Accept") ?? "").toLowerCase().includes(EVENT_STREAM_TYPE);
}

/** Where a reconnecting client's stream goes on: after the line its Last-Event-ID names (0, the start, without one). */
function resumeAfter(request: HonoRequest): number {
  const header = request.header(LAST_EVENT_ID_HEADER);
  if (header === undefined || header.trim() === "") return 0;
  const parsed = lastEventId.safeParse(header.trim());
  if (!parsed.success) throw new ApiError(400, `${LAST_EVENT_ID_HEADER} ${parsed.error.issues[0]!.message}`, LAST_EVENT_ID_HEADER);
  return parsed.data;
}

/** The log as text, or live as Server-Sent Events (README, "Live logs"). */
buildRoutes.get(
  "/builds/:id/logs",
  route({
    tags: ["builds"],
    summary: "The build's log: as text, or live as Server-Sent Events",
    description:
      "With `Accept: text/event-stream` or `?follow=1`, a Server-Sent Events stream: the log so far, then each batch as it comes, " +
      "then `end` with the final record (or `cutoff` for a client that reads too slowly). Each message's `id` is a line number; " +
      "reconnect with `Last-Event-ID` to go on. The schema below is one message after SSE parsing (`event`, `id`, decoded `data`).",
    security: SECURITY.api,
    responses: {
      200: {
        description: "the log",
        content: {
          "text/plain": { schema: { type: "string" } },
          [EVENT_STREAM_TYPE]: { schema: resolver(logStreamMessage) },
        },
      },
      ...errors({ 400: "follow or Last-Event-ID is invalid", ...AUTH_ERRORS, ...UNKNOWN_BUILD, 503: "the pool serves its most live logs already" }),
    },
  }),
  documents("param", buildIdParams),
  documents("query", followQuery),
  documents("header", followHeaders),
  async (c) => {
    const id = idParam(c.req.param("id"));
    const pool = tenantPoolStub(c.env, c.get("tenant"));
    if (wantsLiveLog(c.req)) {
      // The pool answers with the stream itself, or the 404 (another tenant's build) or 503 (too many followers).
      return pool.fetch(followRequest({ id, tenant: c.get("tenant"), after: resumeAfter(c.req) }));
    }
    const log = await pool.logText(id, c.get("tenant"));
    if (log === null) throw unknownBuild(id, "id");
    return c.text(log);
  },
);
