/**
 * Reads `POST /v1/builds`: the build context as a tar body (its Content-Length
 * stated, as R2 needs), the image and labels as query parameters, the registry
 * password only in a header. The tarball itself is checked as it streams into
 * R2 (context/tar-inspector.ts).
 */
import { PASSWORD_HEADER } from "../../shared/api";
import { addField, readBuildSpec, type BuildRequest } from "./build-spec";
import { tarballContext } from "../context/store";
import { ApiError } from "../errors";
import type { Settings } from "../settings";

const TAR_TYPES = new Set(["application/x-tar", "application/tar"]);
const ACCEPTED_FIELDS = `user_name, repo, tag, registry, labels and notify_url (the password goes in ${PASSWORD_HEADER})`;

function contentLength(request: Request, limits: Settings): number {
  const header = request.headers.get("Content-Length");
  if (header === null) throw new ApiError(411, "send the context with a Content-Length (no chunked uploads)", "Content-Length");
  const length = Number(header);
  if (!Number.isSafeInteger(length) || length <= 0) throw new ApiError(400, "Content-Length must be a positive number of bytes", "Content-Length");
  if (length > limits.maxRequestBytes) {
    throw new ApiError(413, `the context must be at most ${limits.maxRequestBytes} bytes`, "body");
  }
  return length;
}

export function readTarballRequest(request: Request, limits: Settings): BuildRequest {
  const contentType = (request.headers.get("Content-Type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (!TAR_TYPES.has(contentType)) {
    throw new ApiError(415, "send the context as an uncompressed tar with Content-Type: application/x-tar", "Content-Type");
  }
  const fields: Record<string, string> = {};
  for (const [key, value] of new URL(request.url).searchParams) addField(fields, key, value);
  if ("password" in fields) throw new ApiError(400, `send the password in the ${PASSWORD_HEADER} header, not in the URL`, "password");
  const spec = readBuildSpec(fields, request.headers, ACCEPTED_FIELDS);
  const bytes = contentLength(request, limits);
  if (!request.body) throw new ApiError(400, "the request has no body: send the context tar", "body");
  return { spec, context: tarballContext(request.body, bytes, limits.maxContextEntries), files: { tarball: { size: bytes } } };
}
