/**
 * Reads `POST /v1/builds?upload=<id>&…`: a build whose context is a chunked
 * upload that has been completed (checked and stored), with no body. The
 * upload must be this tenant's and ready; the pool takes it over when it
 * enqueues the build, so it builds once.
 */
import { buildId } from "../../shared/api";
import { ApiError } from "../errors";
import type { PoolStub } from "../pool/stub";
import type { BuildRequest, BuildSpec } from "./build-spec";

export async function readUploadBuildRequest(request: Request, spec: BuildSpec, upload: string, pool: PoolStub, tenant: string): Promise<BuildRequest> {
  if (!buildId.safeParse(upload).success) throw new ApiError(404, `no upload with id '${upload}'`, "upload");
  const length = request.headers.get("Content-Length");
  if ((length !== null && length !== "0") || request.headers.get("Transfer-Encoding") !== null) {
    throw new ApiError(400, "a build from an upload has no body: its context is the upload", "body");
  }
  const found = await pool.uploadOf(upload, tenant);
  if (!found) throw new ApiError(404, `no upload with id '${upload}'`, "upload");
  if (found.upload.state !== "ready" || found.upload.contextBytes === null) {
    throw new ApiError(409, `upload '${upload}' is ${found.upload.state}: complete it first (POST /v1/uploads/${upload}/complete)`, "upload");
  }
  return {
    spec,
    context: { kind: "upload", uploadId: upload, contextBytes: found.upload.contextBytes },
    files: { upload: { id: upload, size: found.upload.size } },
  };
}
