/**
 * Reads the seed service's build request: text fields from the query string
 * or the multipart form (the seed took them as query parameters; people
 * naturally send them as form fields), files from the form. Everything is
 * checked before anything is stored.
 */
import type { FilesSummary } from "../../shared/api";
import { checkContextPath, DOCKERFILE_PATH, isDockerfilePath } from "../../shared/context-path";
import { BLOCK, END_OF_ARCHIVE, padding } from "../../shared/tar/header";
import { packFiles, type FileEntry } from "../../shared/tar/writer";
import { addField, newTextFields, readBuildSpec, type BuildRequest, type ContextSource, type TextFields } from "./build-spec";
import { RequestBody } from "./body";
import { ApiError } from "../errors";
import type { Settings } from "../settings";

export interface UploadedFile {
  name: string;
  file: File;
}

const FILE_FIELDS = new Set(["dockerfile", "optional_files"]);
const FILE_MODE = 0o644;
const ACCEPTED_FIELDS =
  "user_name, repo, tag, registry, password, labels, notify_url, build_arg, target, no_cache, platform, also_push, dockerfile and optional_files";
/** The Dockerfile's upload name is kept for the response; it goes into the context as `Dockerfile` whatever it is. */
const MAX_UPLOAD_NAME_BYTES = 255;

/**
 * A form text field's most: the longest any field may be when valid is a build_arg (a 256-character name and a
 * 4,096-character value, at most 4 bytes a character), and the query string (the other place fields come from) is
 * bounded by the platform's URL limit. A longer one is refused before it is parsed, let alone stored.
 */
export const MAX_TEXT_FIELD_BYTES = 32 * 1024;

/** Collects text fields from both places; one field given twice, or in both, is refused. */
function collectText(url: URL, form: FormData): TextFields {
  const fields = newTextFields();
  for (const [key, value] of url.searchParams) addField(fields, key, value);
  for (const [key, value] of form) {
    if (FILE_FIELDS.has(key)) continue;
    if (typeof value !== "string") throw new ApiError(400, `${key} must be a text field, not a file`, key);
    if (value.length > MAX_TEXT_FIELD_BYTES || new TextEncoder().encode(value).length > MAX_TEXT_FIELD_BYTES) {
      throw new ApiError(400, `${key} must be at most ${MAX_TEXT_FIELD_BYTES} bytes`, key);
    }
    addField(fields, key, value);
  }
  return fields;
}

function checkDockerfile(form: FormData, limits: Settings): File {
  const uploads = form.getAll("dockerfile");
  if (uploads.length === 0) throw new ApiError(400, "dockerfile is required: send it as a multipart file field", "dockerfile");
  if (uploads.length > 1) throw new ApiError(400, "dockerfile was given more than once", "dockerfile");
  const dockerfile = uploads[0]!;
  if (typeof dockerfile === "string") throw new ApiError(400, "dockerfile must be a file upload (curl -F dockerfile=@Dockerfile)", "dockerfile");
  if (new TextEncoder().encode(dockerfile.name).length > MAX_UPLOAD_NAME_BYTES) {
    throw new ApiError(400, `dockerfile: the uploaded file name must be at most ${MAX_UPLOAD_NAME_BYTES} bytes`, "dockerfile");
  }
  // The seed's own refusal, kept for compatibility: HTTP 418 with its detail text.
  if (!dockerfile.name.toLowerCase().endsWith("dockerfile")) {
    const detail = "[API] Uploaded file seems like not a Dockerfile!";
    throw new ApiError(418, `dockerfile: the uploaded file name '${dockerfile.name}' must end in 'Dockerfile'`, "dockerfile", { detail });
  }
  if (dockerfile.size === 0) throw new ApiError(400, "dockerfile must not be empty", "dockerfile");
  if (dockerfile.size > limits.maxDockerfileBytes) {
    throw new ApiError(413, `dockerfile must be at most ${limits.maxDockerfileBytes} bytes`, "dockerfile");
  }
  return dockerfile;
}

function checkOptionalFiles(form: FormData, limits: Settings): UploadedFile[] {
  const uploads = form.getAll("optional_files");
  if (uploads.length > limits.maxFiles) {
    throw new ApiError(413, `optional_files may hold at most ${limits.maxFiles} files`, "optional_files");
  }
  const seen = new Set<string>();
  return uploads.map((upload) => {
    if (typeof upload === "string") throw new ApiError(400, "optional_files must be file uploads (curl -F optional_files=@app.sh)", "optional_files");
    const problem = checkContextPath(upload.name);
    if (problem) throw new ApiError(400, `optional_files '${upload.name}': ${problem}`, "optional_files");
    if (isDockerfilePath(upload.name)) {
      throw new ApiError(400, `optional_files '${upload.name}': this name is taken by the dockerfile field`, "optional_files");
    }
    if (seen.has(upload.name)) throw new ApiError(400, `optional_files '${upload.name}' was given more than once`, "optional_files");
    seen.add(upload.name);
    return { name: upload.name, file: upload };
  });
}

/** The form, read within the body deadline (requests/body.ts): a stalled upload is a 408, a short one a 400. */
async function readForm(request: Request, limits: Settings): Promise<FormData> {
  const contentType = request.headers.get("Content-Type") ?? "";
  if (!contentType.toLowerCase().startsWith("multipart/form-data")) {
    throw new ApiError(415, "send the build as multipart/form-data (curl -F dockerfile=@Dockerfile ...)", "Content-Type");
  }
  if (!request.body) throw new ApiError(400, "the request has no body: send the multipart form", "body");
  const length = request.headers.get("Content-Length");
  const declared = length === null ? null : Number(length);
  const body = new RequestBody(request.body, Number.isSafeInteger(declared) ? declared : null, limits.bodyIdleMs);
  try {
    return await new Request(request.url, { method: "POST", headers: request.headers, body: body.stream() }).formData();
  } catch {
    throw body.failure ?? new ApiError(400, "the multipart body could not be read: it is malformed or was cut off", "body");
  }
}

/**
 * The Dockerfile (as `Dockerfile`) and the optional files, packed into a tar in this order, which is then checked
 * and stored like any other context. The form is in memory already (at most DOCKIFY_MAX_REQUEST_BYTES).
 */
function seedContext(dockerfile: File, files: UploadedFile[]): ContextSource {
  const entries: FileEntry[] = [
    { name: DOCKERFILE_PATH, size: dockerfile.size, mode: FILE_MODE, body: () => dockerfile.stream() },
    ...files.map(({ name, file }) => ({ name, size: file.size, mode: FILE_MODE, body: () => file.stream() })),
  ];
  const tarBytes = entries.reduce((total, { size }) => total + BLOCK + size + padding(size), END_OF_ARCHIVE.length);
  return {
    kind: "request",
    reservedBytes: tarBytes,
    chunks: () => packFiles(entries, Math.floor(Date.now() / 1000)),
    drain: async () => undefined,
    failure: () => null,
  };
}

function summarizeFiles(dockerfile: File, files: UploadedFile[]): FilesSummary {
  return {
    dockerfile: { filename: dockerfile.name, size: dockerfile.size },
    optional_files: Object.fromEntries(files.map(({ name, file }) => [name, { size: file.size }])),
  };
}

export async function readSeedForm(request: Request, limits: Settings): Promise<BuildRequest> {
  const form = await readForm(request, limits);
  const spec = readBuildSpec(collectText(new URL(request.url), form), request.headers, ACCEPTED_FIELDS);
  const dockerfile = checkDockerfile(form, limits);
  const files = checkOptionalFiles(form, limits);
  return { spec, context: seedContext(dockerfile, files), files: summarizeFiles(dockerfile, files) };
}
