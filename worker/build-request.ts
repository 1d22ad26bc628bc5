/**
 * Reads the seed service's build request: text fields from the query string
 * or the multipart form (the seed took them as query parameters; people
 * naturally send them as form fields), files from the form. Everything is
 * checked before anything is stored.
 */
import { z } from "zod";
import { checkContextPath, isDockerfilePath } from "../shared/context-path";
import { parseLabels } from "../shared/labels";
import type { Labels } from "../shared/protocol";
import { checkPathComponent, checkRegistry, checkRepositoryPath, checkTag, DOCKER_HUB, type ImageName } from "../shared/reference";
import type { Settings } from "./settings";
import { ApiError, invalidField } from "./errors";

export interface UploadedFile {
  name: string;
  file: File;
}

export interface BuildRequest {
  image: ImageName;
  userName: string;
  labels: Labels;
  idempotencyKey: string | null;
  password?: string;
  dockerfile: File;
  files: UploadedFile[];
}

const PASSWORD_HEADER = "X-Registry-Password";
const IDEMPOTENCY_HEADER = "Idempotency-Key";
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
const FILE_FIELDS = new Set(["dockerfile", "optional_files"]);
/** The Dockerfile's upload name is kept for the response; it goes into the context as `Dockerfile` whatever it is. */
const MAX_UPLOAD_NAME_BYTES = 255;

function grammar(check: (value: string) => string | null) {
  return (value: string, ctx: z.RefinementCtx) => {
    const problem = check(value);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  };
}

const textFields = z.strictObject({
  user_name: z.string().superRefine(grammar(checkPathComponent)),
  repo: z.string().superRefine(grammar(checkRepositoryPath)),
  tag: z.string().default("latest").superRefine(grammar(checkTag)),
  registry: z.string().default(DOCKER_HUB).superRefine(grammar(checkRegistry)),
  password: z.string().max(4096, "must be at most 4096 characters").optional(),
  labels: z.string().default("").transform((text, ctx) => {
    const parsed = parseLabels(text);
    if ("labels" in parsed) return parsed.labels;
    ctx.addIssue({ code: "custom", message: parsed.error });
    return z.NEVER;
  }),
});

const ACCEPTED_FIELDS = "user_name, repo, tag, registry, password, labels, dockerfile and optional_files";

/** Collects text fields from both places; one field given twice, or differently in each, is refused. */
function collectText(url: URL, form: FormData): Record<string, string> {
  const fields: Record<string, string> = {};
  const add = (key: string, value: string) => {
    if (key in fields) throw new ApiError(400, `${key} was given more than once`, key);
    fields[key] = value;
  };
  for (const [key, value] of url.searchParams) add(key, value);
  for (const [key, value] of form) {
    if (FILE_FIELDS.has(key)) continue;
    if (typeof value !== "string") throw new ApiError(400, `${key} must be a text field, not a file`, key);
    add(key, value);
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

/** A client that retries with the same key gets the same job instead of a second build. */
function readIdempotencyKey(request: Request): string | null {
  const key = request.headers.get(IDEMPOTENCY_HEADER);
  if (key === null) return null;
  if (!IDEMPOTENCY_KEY.test(key)) {
    throw new ApiError(400, `${IDEMPOTENCY_HEADER} must be 1 to 255 visible ASCII characters`, IDEMPOTENCY_HEADER);
  }
  return key;
}

async function readForm(request: Request): Promise<FormData> {
  const contentType = request.headers.get("Content-Type") ?? "";
  if (!contentType.toLowerCase().startsWith("multipart/form-data")) {
    throw new ApiError(415, "send the build as multipart/form-data (curl -F dockerfile=@Dockerfile ...)", "Content-Type");
  }
  try {
    return await request.formData();
  } catch {
    throw new ApiError(400, "the multipart body could not be read: it is malformed or was cut off", "body");
  }
}

export async function readBuildRequest(request: Request, limits: Settings): Promise<BuildRequest> {
  const form = await readForm(request);
  const text = collectText(new URL(request.url), form);
  const headerPassword = request.headers.get(PASSWORD_HEADER);
  if (headerPassword !== null) {
    if ("password" in text) throw new ApiError(400, `password was given both as a field and in ${PASSWORD_HEADER}`, "password");
    text.password = headerPassword;
  }
  const parsed = textFields.safeParse(text);
  if (!parsed.success) throw invalidField(parsed.error.issues[0]!, ACCEPTED_FIELDS);
  const { user_name, repo, tag, registry, password, labels } = parsed.data;
  const path = `${user_name}/${repo}`;
  const pathProblem = checkRepositoryPath(path);
  if (pathProblem) throw new ApiError(400, `repo: ${user_name}/${repo} ${pathProblem}`, "repo");
  return {
    image: { registry, path, tag },
    userName: user_name,
    labels,
    idempotencyKey: readIdempotencyKey(request),
    // The seed logged in only when a password was given; an empty one means none.
    password: password || undefined,
    dockerfile: checkDockerfile(form, limits),
    files: checkOptionalFiles(form, limits),
  };
}
