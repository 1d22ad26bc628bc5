/** The v1 view of a build: its full record and its log. */
import { Hono } from "hono";
import { requireApiToken } from "../auth";
import type { AppEnv } from "../env";
import { ApiError } from "../errors";
import { poolStub } from "../pool/stub";
import { buildView } from "../views";
import { findJob } from "./find-job";

export const buildRoutes = new Hono<AppEnv>();

buildRoutes.use(requireApiToken);

buildRoutes.get("/builds/:id", async (c) => {
  const job = await findJob(c.env, c.get("tenant"), c.req.param("id"));
  return c.json(buildView(job));
});

buildRoutes.get("/builds/:id/logs", async (c) => {
  const job = await findJob(c.env, c.get("tenant"), c.req.param("id"));
  const log = await poolStub(c.env).logText(job.id, c.get("tenant"));
  if (log === null) throw new ApiError(404, `no build with id '${job.id}'`, "id");
  return c.text(log);
});
