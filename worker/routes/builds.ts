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
