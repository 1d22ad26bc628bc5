/** The seed service's contract, kept working: POST /build, GET /status/{task_id}, GET /. */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { buildId } from "../../shared/api";
import { requireApiToken } from "../auth";
import type { AppEnv } from "../env";
import { errorResponse, unknownBuild } from "../errors";
import { tenantPoolStub } from "../pool/stub";
import { readSeedForm } from "../requests/seed-form";
import { toSeedAccepted, toSeedStatus } from "../responses";
import { settings } from "../settings";
import { submitBuild } from "../submit";

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
    const request = await readSeedForm(c.req.raw, settings(c.env));
    return c.json(toSeedAccepted(await submitBuild(c.env, c.get("tenant"), request)));
  },
);

seedRoutes.get("/status/:task_id", requireApiToken, async (c) => {
  const id = c.req.param("task_id");
  const job = buildId.safeParse(id).success ? await tenantPoolStub(c.env, c.get("tenant")).describe(id, c.get("tenant")) : null;
  if (!job) throw unknownBuild(id, "task_id");
  return c.json(toSeedStatus(job));
});
