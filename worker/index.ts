/** The Dockify Worker: mounts the routes and exports the pool Durable Object. */
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import type { AppEnv } from "./env";
import { errorResponse } from "./errors";
import { agentRoutes } from "./routes/agents";
import { OPENAPI_PATH, openApiDocument } from "./openapi/document";
import { route, SECURITY } from "./openapi/describe";
import { buildRoutes } from "./routes/builds";
import { metricsRoutes } from "./routes/metrics";
import { pageRoutes } from "./routes/pages";
import { poolAgentRoutes } from "./routes/pool-agents";
import { seedRoutes } from "./routes/seed";
import { uploadRoutes } from "./routes/uploads";
import { MissingSecretKeyError } from "./secrets";
import { SettingsError } from "./settings";

export { Pool } from "./pool/pool";

const app = new Hono<AppEnv>();

// The agent's upgrade route comes before any header-setting middleware, which breaks a 101 response.
app.route("/agent", agentRoutes);
app.route("/", seedRoutes);
app.route("/v1", buildRoutes);
app.route("/v1", poolAgentRoutes);
app.route("/v1", uploadRoutes);
app.route("/", metricsRoutes);
app.route("/", pageRoutes);

app.get(
  OPENAPI_PATH,
  route({
    tags: ["docs"],
    summary: "This document: OpenAPI 3.1, generated from the routes and shared/api.ts",
    security: SECURITY.none,
    responses: { 200: { description: "the document", content: { "application/json": { schema: { type: "object" } } } } },
  }),
  async (c) => c.json(await openApiDocument(app)),
);

app.notFound((c) => errorResponse(404, `no route for ${c.req.method} ${c.req.path}`));

app.onError((error) => {
  if (error instanceof HTTPException) return error.getResponse();
  if (error instanceof SettingsError) return errorResponse(503, `the server is not configured: ${error.message}`, error.variable);
  if (error instanceof MissingSecretKeyError) {
    return errorResponse(503, `the server is not configured: ${error.message}`);
  }
  console.error("unhandled error", error instanceof Error ? error.stack : String(error));
  return errorResponse(500, "internal error; the build was not stored");
});

export default app;
