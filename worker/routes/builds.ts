/** The v1 builds API: submit a tarball, list, one build's record and log, and cancel. Each answer is one call to the pool. */
import { Hono, type HonoRequest } from "hono";
import {
  buildId,
  EVENT_STREAM_TYPE,
  FOLLOW_QUERY,
  LAST_EVENT_ID_HEADER,
  lastEventId,
  LIST_CURSOR,
  listBuildsQuery,
  type BuildList,
} from "../../shared/api";
import { requireApiToken } from "../auth";
import type { AppEnv } from "../env";
import { ApiError, invalidField, unknownBuild } from "../errors";
import { followRequest } from "../pool/follow-request";
import { tenantPoolStub } from "../pool/stub";
import { readTarballRequest } from "../requests/tarball";
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

/** A build whose context is the request body, a tar; answers 202 with the build's record. */
buildRoutes.post("/builds", async (c) => {
  const job = await submitBuild(c.env, c.get("tenant"), readTarballRequest(c.req.raw, settings(c.env)));
  return c.json(toBuild(job), 202);
});

/** The tenant's builds, newest first; `next_cursor` fetches the page after this one. */
buildRoutes.get("/builds", async (c) => {
  const parsed = listBuildsQuery.safeParse(c.req.query());
  if (!parsed.success) throw invalidField(parsed.error.issues[0]!, "limit and cursor");
  const { limit, cursor } = parsed.data;
  const match = cursor ? LIST_CURSOR.exec(cursor) : null;
  const after = match ? { createdAt: Number(match[1]), id: match[2]! } : undefined;
  const jobs = await tenantPoolStub(c.env, c.get("tenant")).list(c.get("tenant"), limit, after);
  const last = jobs.length === limit ? jobs[jobs.length - 1] : undefined;
  const page: BuildList = { builds: jobs.map(toBuild), next_cursor: last ? `${last.createdAt}.${last.id}` : null };
  return c.json(page);
});

buildRoutes.get("/builds/:id", async (c) => {
  const id = idParam(c.req.param("id"));
  const job = await tenantPoolStub(c.env, c.get("tenant")).describe(id, c.get("tenant"));
  if (!job) throw unknownBuild(id, "id");
  return c.json(toBuild(job));
});

buildRoutes.post("/builds/:id/cancel", async (c) => {
  const id = idParam(c.req.param("id"));
  const canceled = await tenantPoolStub(c.env, c.get("tenant")).cancel(id, c.get("tenant"));
  if (!canceled) throw unknownBuild(id, "id");
  if (canceled.outcome === "finished") {
    throw new ApiError(409, `build '${id}' has already ended (${canceled.job.state}) and cannot be canceled`, "id");
  }
  // 202: the agent has been told and the build ends canceled within seconds.
  return c.json(toBuild(canceled.job), canceled.outcome === "canceled" ? 200 : 202);
});

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
buildRoutes.get("/builds/:id/logs", async (c) => {
  const id = idParam(c.req.param("id"));
  const pool = tenantPoolStub(c.env, c.get("tenant"));
  if (wantsLiveLog(c.req)) {
    // The pool answers with the stream itself, or the 404 (another tenant's build) or 503 (too many followers).
    return pool.fetch(followRequest({ id, tenant: c.get("tenant"), after: resumeAfter(c.req) }));
  }
  const log = await pool.logText(id, c.get("tenant"));
  if (log === null) throw unknownBuild(id, "id");
  return c.text(log);
});
