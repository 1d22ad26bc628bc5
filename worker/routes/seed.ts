/** The seed service's contract, kept working: POST /build, GET /status/{task_id}, GET /. */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { requireApiToken } from "../auth";
import { readBuildRequest } from "../build-request";
import type { AppEnv } from "../env";
import { settings } from "../settings";
import { errorResponse } from "../errors";
import { submitBuild } from "../submit";
import { acceptedView, seedStatus } from "../views";
import { findJob } from "./find-job";

export const seedRoutes = new Hono<AppEnv>();

seedRoutes.get("/", (c) => c.json({ message: "Please go to /docs to interect with API" }, 418));

seedRoutes.post(
  "/build",
  requireApiToken,
  (c, next) => {
    const maxSize = settings(c.env).maxRequestBytes;
    const onError = () => errorResponse(413, `the request body must be at most ${maxSize} bytes`, "body");
    return bodyLimit({ maxSize, onError })(c, next);
  },
  async (c) => {
    const { spec, context, files } = await readBuildRequest(c.req.raw, settings(c.env));
    return c.json(acceptedView(await submitBuild(c.env, c.get("tenant"), spec, context, files)));
  },
);

seedRoutes.get("/status/:task_id", requireApiToken, async (c) => {
  const job = await findJob(c.env, c.get("tenant"), c.req.param("task_id"));
  return c.json(seedStatus(job));
});
