/**
 * Chunked uploads, for contexts larger than one request may carry: create,
 * send parts (each its own request, retried on its own), complete (the tar is
 * checked and re-packed), then `POST /v1/builds?upload=<id>`; or delete.
 * A client resumes an interrupted upload by reading which parts arrived.
 */
import { Hono } from "hono";
import { buildId, createUploadRequest } from "../../shared/api";
import { requireApiToken } from "../auth";
import type { AppEnv } from "../env";
import { ApiError, invalidField } from "../errors";
import { refusal } from "../pool/refusal";
import { tenantPoolStub } from "../pool/stub";
import { toUploadDetail, toUploadSummary } from "../responses";
import { completeUpload } from "../uploads/complete";
import { storePart } from "../uploads/part";

export const uploadRoutes = new Hono<AppEnv>();

uploadRoutes.use(requireApiToken);

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

uploadRoutes.post("/uploads", async (c) => {
  const { size, part_size } = await readCreate(c.req.raw);
  const tenant = c.get("tenant");
  const created = await tenantPoolStub(c.env, tenant).createUpload(tenant, size, part_size);
  if ("refused" in created) throw refusal(created.refused);
  return c.json(toUploadDetail(created.ok, []), 201, { Location: `/v1/uploads/${created.ok.id}` });
});

uploadRoutes.get("/uploads", async (c) => {
  const tenant = c.get("tenant");
  const uploads = await tenantPoolStub(c.env, tenant).listUploads(tenant);
  return c.json({ uploads: uploads.map(({ upload, received }) => toUploadSummary(upload, received)) });
});

uploadRoutes.get("/uploads/:id", async (c) => {
  const id = idParam(c.req.param("id"));
  const tenant = c.get("tenant");
  const found = await tenantPoolStub(c.env, tenant).uploadOf(id, tenant);
  if (!found) throw unknownUpload(id);
  return c.json(toUploadDetail(found.upload, found.parts));
});

uploadRoutes.put("/uploads/:id/parts/:number", async (c) => {
  const id = idParam(c.req.param("id"));
  return c.json(await storePart(c.env, c.get("tenant"), id, c.req.param("number"), c.req.raw));
});

uploadRoutes.post("/uploads/:id/complete", async (c) => {
  const id = idParam(c.req.param("id"));
  const upload = await completeUpload(c.env, c.get("tenant"), id);
  return c.json(toUploadDetail(upload, []));
});

uploadRoutes.delete("/uploads/:id", async (c) => {
  const id = idParam(c.req.param("id"));
  const tenant = c.get("tenant");
  if (!(await tenantPoolStub(c.env, tenant).deleteUpload(id, tenant))) throw unknownUpload(id);
  return c.body(null, 204);
});
