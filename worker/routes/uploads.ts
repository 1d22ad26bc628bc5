/**
 * Chunked uploads, for contexts larger than one request may carry: create,
 * send parts (each its own request, retried on its own), complete (the tar is
 * checked and re-packed), then `POST /v1/builds?upload=<id>`; or delete.
 * A client resumes an interrupted upload by reading which parts arrived.
 */
import { Hono } from "hono";
import { resolver } from "hono-openapi";
import {
  buildId,
  createUploadRequest,
  uploadDetail,
  uploadIdParams,
  uploadList,
  uploadPart,
  uploadPartHeaders,
  uploadPartParams,
  type UploadList,
} from "../../shared/api";
import { requireApiToken } from "../auth";
import type { AppEnv } from "../env";
import { ApiError, invalidField } from "../errors";
import { AUTH_ERRORS, documents, errors, json, route, SECURITY } from "../openapi/describe";
import { refusal } from "../uploads/refusal";
import { tenantPoolStub } from "../pool/stub";
import { toUploadDetail, toUploadSummary } from "../responses";
import { completeUpload } from "../uploads/complete";
import { storePart } from "../uploads/part";

export const uploadRoutes = new Hono<AppEnv>();

// Per path (Hono's "/uploads/*" covers "/uploads" too): a `use` without one would run for every /v1 route.
uploadRoutes.use("/uploads/*", requireApiToken);

const UNKNOWN_UPLOAD = { 404: "no upload with this id (or another tenant's)" } as const;
/** A body that lies (requests/body.ts): every route that reads one may answer these. */
const BODY_ERRORS = {
  400: "the body ended or broke off before its Content-Length (named `body`)",
  408: "no bytes of the body arrived for DOCKIFY_BODY_IDLE_SECONDS (named `body`)",
} as const;

/** A create request is a few numbers: a larger body is refused unread. */
const MAX_CREATE_BODY_BYTES = 4096;

function unknownUpload(id: string): ApiError {
  return new ApiError(404, `no upload with id '${id}'`, "id");
}

/** The upload's id from the path; anything that is not one is as unknown as an id no upload has. */
function idParam(id: string): string {
  if (!buildId.safeParse(id).success) throw unknownUpload(id);
  return id;
}

async function readCreate(request: Request) {
  if (!(request.headers.get("Content-Type") ?? "").toLowerCase().startsWith("application/json")) {
    throw new ApiError(415, 'send {"size": <bytes>, "part_size": <bytes>} as application/json', "Content-Type");
  }
  if (Number(request.headers.get("Content-Length") ?? MAX_CREATE_BODY_BYTES + 1) > MAX_CREATE_BODY_BYTES) {
    throw new ApiError(413, `the request body must be at most ${MAX_CREATE_BODY_BYTES} bytes, with a Content-Length`, "body");
  }
  let json: unknown;
  try {
    json = await request.json();
  } catch {
    throw new ApiError(400, "the body is not JSON", "body");
  }
  const parsed = createUploadRequest.safeParse(json);
  if (!parsed.success) throw invalidField(parsed.error.issues[0]!, "size and part_size");
  return parsed.data;
}

uploadRoutes.post(
  "/uploads",
  route({
    tags: ["uploads"],
    summary: "Start a chunked upload of a context too large for one request (a tar, gzip-compressed or not)",
    security: SECURITY.api,
    requestBody: { required: true, content: { "application/json": { schema: resolver(createUploadRequest) } } },
    responses: {
      201: json(uploadDetail, "created: the upload, with its part_size and part_count (Location names it)"),
      ...errors({
        400: "the body is not JSON, or size or part_size is invalid (named in `field`)",
        ...AUTH_ERRORS,
        413: "size is over DOCKIFY_MAX_CONTEXT_BYTES, or the body is over 4096 bytes or has no Content-Length",
        415: "not application/json",
        429: "the tenant has DOCKIFY_TENANT_MAX_UPLOADS uploads already, or too many bytes of contexts and uploads stored",
      }),
    },
  }),
  async (c) => {
    const { size, part_size } = await readCreate(c.req.raw);
    const tenant = c.get("tenant");
    const created = await tenantPoolStub(c.env, tenant).createUpload(tenant, size, part_size);
    if ("refused" in created) throw refusal(created.refused);
    return c.json(toUploadDetail(created.ok, []), 201, { Location: `/v1/uploads/${created.ok.id}` });
  },
);

uploadRoutes.get(
  "/uploads",
  route({
    tags: ["uploads"],
    summary: "The tenant's uploads, without their parts",
    security: SECURITY.api,
    responses: { 200: json(uploadList, "the uploads"), ...errors(AUTH_ERRORS) },
  }),
  async (c) => {
    const tenant = c.get("tenant");
    const uploads = await tenantPoolStub(c.env, tenant).listUploads(tenant);
    const list: UploadList = { uploads: uploads.map(({ upload, received }) => toUploadSummary(upload, received)) };
    return c.json(list);
  },
);

uploadRoutes.get(
  "/uploads/:id",
  route({
    tags: ["uploads"],
    summary: "One upload with the parts that arrived: a client resuming it sends the others",
    security: SECURITY.api,
    responses: { 200: json(uploadDetail, "the upload and its parts"), ...errors({ ...AUTH_ERRORS, ...UNKNOWN_UPLOAD }) },
  }),
  documents("param", uploadIdParams),
  async (c) => {
    const id = idParam(c.req.param("id"));
    const tenant = c.get("tenant");
    const found = await tenantPoolStub(c.env, tenant).uploadOf(id, tenant);
    if (!found) throw unknownUpload(id);
    return c.json(toUploadDetail(found.upload, found.parts));
  },
);

uploadRoutes.put(
  "/uploads/:id/parts/:number",
  route({
    tags: ["uploads"],
    summary: "Send one part: exactly the bytes its number calls for, stored only if its SHA-256 matches Content-Digest",
    description:
      "A part sent again replaces the first one whole. A part that does not match its digest, or whose body breaks off or stalls, " +
      "is not stored at all: send it again.",
    security: SECURITY.api,
    requestBody: {
      required: true,
      description: "the part's bytes: the upload's bytes from (number - 1) × part_size",
      content: { "application/octet-stream": { schema: { type: "string", contentMediaType: "application/octet-stream" } } },
    },
    responses: {
      200: json(uploadPart, "stored: the part's number, size and SHA-256"),
      ...errors({
        400: "number is out of range, Content-Length is not the part's size, Content-Digest is missing or does not match, or the body ended or broke off early",
        ...AUTH_ERRORS,
        ...UNKNOWN_UPLOAD,
        408: BODY_ERRORS[408],
        409: "the upload is being checked or is ready: it takes no more parts",
        411: "no Content-Length",
        413: "the part is over DOCKIFY_MAX_PART_BYTES",
      }),
    },
  }),
  documents("param", uploadPartParams),
  documents("header", uploadPartHeaders),
  async (c) => {
    const id = idParam(c.req.param("id"));
    return c.json(await storePart(c.env, c.get("tenant"), id, c.req.param("number"), c.req.raw));
  },
);

uploadRoutes.post(
  "/uploads/:id/complete",
  route({
    tags: ["uploads"],
    summary: "Check the whole upload as a build context and store it re-packed; then a build may name it (upload=<id>)",
    description:
      "The parts, read as one stream (gunzipped if they are gzip), are checked entry by entry and written anew, exactly as a " +
      "tarball sent to POST /v1/builds. An upload that fails the check is deleted whole. Once ready, completing again answers the same.",
    security: SECURITY.api,
    responses: {
      200: json(uploadDetail, "ready: the upload with its context_bytes"),
      ...errors({
        400: "the context fails the check (named `context`); the upload is deleted",
        ...AUTH_ERRORS,
        ...UNKNOWN_UPLOAD,
        409: "a part is missing (named `parts`), the upload is being checked already, or it was deleted while checked",
        413: "the context is over DOCKIFY_MAX_CONTEXT_BYTES once decompressed (named `context`); the upload is deleted",
        429: "the checked context would pass the tenant's byte limit; the upload is deleted",
      }),
    },
  }),
  documents("param", uploadIdParams),
  async (c) => {
    const id = idParam(c.req.param("id"));
    const upload = await completeUpload(c.env, c.get("tenant"), id);
    return c.json(toUploadDetail(upload, []));
  },
);

uploadRoutes.delete(
  "/uploads/:id",
  route({
    tags: ["uploads"],
    summary: "Delete an upload and everything stored for it",
    security: SECURITY.api,
    responses: { 204: { description: "deleted" }, ...errors({ ...AUTH_ERRORS, ...UNKNOWN_UPLOAD }) },
  }),
  documents("param", uploadIdParams),
  async (c) => {
    const id = idParam(c.req.param("id"));
    const tenant = c.get("tenant");
    if (!(await tenantPoolStub(c.env, tenant).deleteUpload(id, tenant))) throw unknownUpload(id);
    return c.body(null, 204);
  },
);
