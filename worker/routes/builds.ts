/** The v1 builds API: submit a tarball, list, one build's record and log, and cancel. */
import { Hono } from "hono";
import { z } from "zod";
import { requireApiToken } from "../auth";
import type { AppEnv } from "../env";
import { ApiError, invalidField } from "../errors";
import { poolStub } from "../pool/stub";
import { settings } from "../settings";
import { submitBuild } from "../submit";
import { readTarballRequest } from "../tarball-request";
import { buildView } from "../views";
import { findJob } from "./find-job";

export const buildRoutes = new Hono<AppEnv>();

buildRoutes.use(requireApiToken);

/** A build whose context is the request body, a tar; answers 202 with the build's record. */
buildRoutes.post("/builds", async (c) => {
  const { spec, context, files } = readTarballRequest(c.req.raw, settings(c.env));
  const job = await submitBuild(c.env, c.get("tenant"), spec, context, files);
  return c.json(buildView(job), 202);
});

const CURSOR = /^(\d{1,15})\.([0-9a-f-]{36})$/;

const listQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().regex(CURSOR, "must be the next_cursor of an earlier page").optional(),
});

/** The tenant's builds, newest first; `next_cursor` fetches the page after this one. */
buildRoutes.get("/builds", async (c) => {
  const parsed = listQuery.safeParse(c.req.query());
  if (!parsed.success) throw invalidField(parsed.error.issues[0]!, "limit and cursor");
  const { limit, cursor } = parsed.data;
  const match = cursor ? CURSOR.exec(cursor) : null;
  const after = match ? { createdAt: Number(match[1]), id: match[2]! } : undefined;
  const jobs = await poolStub(c.env).list(c.get("tenant"), limit, after);
  const last = jobs.length === limit ? jobs[jobs.length - 1] : undefined;
  return c.json({ builds: jobs.map(buildView), next_cursor: last ? `${last.createdAt}.${last.id}` : null });
});

buildRoutes.get("/builds/:id", async (c) => {
  const job = await findJob(c.env, c.get("tenant"), c.req.param("id"));
  return c.json(buildView(job));
});

buildRoutes.post("/builds/:id/cancel", async (c) => {
  const job = await findJob(c.env, c.get("tenant"), c.req.param("id"));
  const canceled = await poolStub(c.env).cancel(job.id, c.get("tenant"));
  if (!canceled) throw new ApiError(404, `no build with id '${job.id}'`, "id");
  if (canceled.outcome === "finished") {
    throw new ApiError(409, `build '${job.id}' has already ended (${canceled.job.state}) and cannot be canceled`, "id");
  }
  // 202: the agent has been told and the build ends canceled within seconds.
  return c.json(buildView(canceled.job), canceled.outcome === "canceled" ? 200 : 202);
});

buildRoutes.get("/builds/:id/logs", async (c) => {
  const job = await findJob(c.env, c.get("tenant"), c.req.param("id"));
  const log = await poolStub(c.env).logText(job.id, c.get("tenant"));
  if (log === null) throw new ApiError(404, `no build with id '${job.id}'`, "id");
  return c.text(log);
});
