/**
 * Reads `POST /v1/builds`: the build context as a tar body (gzip-compressed
 * or not, with its Content-Length stated), the image and labels as query
 * parameters, the registry password only in a header. Or, with `upload=<id>`
 * and no body, a build whose context is a completed chunked upload. The tar is
 * checked and re-packed as it streams into R2 (context/store.ts).
 */
import { PASSWORD_HEADER, tarballBuildFields } from "../../shared/api";
import { addField, newTextFields, readBuildSpec, type BuildRequest, type TextFields } from "./build-spec";
import { RequestBody } from "./body";
import { ApiError } from "../errors";
import type { Settings } from "../settings";

/** Whether it is compressed is read from the data (gzip's magic bytes), so either type names either. */
const TAR_TYPES = new Set(["application/x-tar", "application/tar", "application/gzip", "application/x-gzip", "application/x-tar+gzip"]);
const ACCEPTED_FIELDS =
  `user_name, repo, tag, registry, labels, notify_url, build_arg, target, no_cache, platform, also_push, dockerfile and upload (the password goes in ${PASSWORD_HEADER})`;

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

/** The query's fields, with `upload` taken out: the build fields go through readBuildSpec. */
export function readQuery(request: Request): { fields: TextFields; upload: string | undefined } {
  const fields = newTextFields();
  for (const [key, value] of new URL(request.url).searchParams) addField(fields, key, value);
  if (Object.hasOwn(fields, "password")) throw new ApiError(400, `send the password in the ${PASSWORD_HEADER} header, not in the URL`, "password");
  const { upload, ...rest } = fields;
  // Not a repeatable field, so addField gave it one value, if any.
  return { fields: rest, upload: typeof upload === "string" ? upload : undefined };
}

export function readBuildQuery(request: Request): { spec: BuildRequest["spec"]; upload: string | undefined } {
  const { fields, upload } = readQuery(request);
  return { spec: readBuildSpec(fields, request.headers, ACCEPTED_FIELDS, tarballBuildFields), upload };
}

/** A build whose context is the request's body. */
export function readTarballRequest(request: Request, spec: BuildRequest["spec"], limits: Settings): BuildRequest {
  const contentType = (request.headers.get("Content-Type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (!TAR_TYPES.has(contentType)) {
    throw new ApiError(415, "send the context as a tar (gzip-compressed or not) with Content-Type: application/x-tar", "Content-Type");
  }
  const bytes = contentLength(request, limits);
  if (!request.body) throw new ApiError(400, "the request has no body: send the context tar", "body");
  const body = new RequestBody(request.body, bytes, limits.bodyIdleMs);
  return {
    spec,
    context: {
      kind: "request",
      // What the tar may grow to when gunzipped is not reserved here: the check caps it, and the pool counts the real size.
      reservedBytes: bytes,
      chunks: () => body.chunks(),
      drain: () => body.drain(),
      failure: () => body.failure,
    },
    files: { tarball: { size: bytes } },
  };
}
