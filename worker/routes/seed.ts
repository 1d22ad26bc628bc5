/** The seed service's contract, kept working: POST /build, GET /status/{task_id}, GET /. */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import {
  buildId,
  seedAccepted,
  seedBuildForm,
  seedBuildQuery,
  seedStatus,
  seedTeapot,
  submitHeaders,
  taskIdParams,
} from "../../shared/api";
import { requireApiToken } from "../auth";
import type { AppEnv } from "../env";
import { errorResponse, unknownBuild } from "../errors";
import { AUTH_ERRORS, documents, errors, json, route, SECURITY } from "../openapi/describe";
import { tenantPoolStub } from "../pool/stub";
import { readSeedForm } from "../requests/seed-form";
import { toSeedAccepted, toSeedStatus } from "../responses";
import { settings } from "../settings";
import { submitBuild } from "../submit";

export const seedRoutes = new Hono<AppEnv>();

seedRoutes.get(
  "/",
  route({
    tags: ["seed"],
    summary: "The seed's pointer to the docs",
    security: SECURITY.none,
    responses: { 418: json(seedTeapot, "always: the API is described at /docs") },
  }),
  (c) => c.json({ message: "Please go to /docs to interect with API" }, 418),
);

seedRoutes.post(
  "/build",
  route({
    tags: ["seed"],
    summary: "Submit a build: a Dockerfile and optional files as multipart/form-data",
    description:
      "Each text field goes in the query string (as the seed took them) or in the form, once. The password goes in the form " +
      "or the X-Registry-Password header; old clients may still put it in the query string.",
    security: SECURITY.api,
    responses: {
      200: json(seedAccepted, "accepted: the job id"),
      ...errors({
        400: "a field is missing or invalid (named in `field`)",
        ...AUTH_ERRORS,
        403: "a label reserved to agents outside the tenant's pool",
        413: "the request, the Dockerfile or the number of files is over its limit",
        415: "not multipart/form-data",
        418: "the dockerfile's upload name does not end in Dockerfile (the seed's own refusal, with its `detail`)",
        422: "the Idempotency-Key was used for another image",
        429: "the tenant has too many builds waiting, or too many bytes of contexts stored",
      }),
    },
  }),
  documents("query", seedBuildQuery),
  documents("form", seedBuildForm),
  documents("header", submitHeaders),
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

seedRoutes.get(
  "/status/:task_id",
  route({
    tags: ["seed"],
    summary: "A build's status in the seed's three words: processing, success, failed",
    security: SECURITY.api,
    responses: { 200: json(seedStatus, "the status"), ...errors({ ...AUTH_ERRORS, 404: "no build with this id (or another tenant's)" }) },
  }),
  documents("param", taskIdParams),
  requireApiToken,
  async (c) => {
    const id = c.req.param("task_id");
    const job = buildId.safeParse(id).success ? await tenantPoolStub(c.env, c.get("tenant")).describe(id, c.get("tenant")) : null;
    if (!job) throw unknownBuild(id, "task_id");
    return c.json(toSeedStatus(job));
  },
);
