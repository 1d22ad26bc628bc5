/**
 * What every build request names, however its context arrives: the image
 * (user, repository, tag, registry), labels, the registry password and an
 * idempotency key. Checked with shared/api.ts's schemas before anything is stored.
 */
import { buildFields, IDEMPOTENCY_HEADER, IDEMPOTENCY_KEY, PASSWORD_HEADER, type FilesSummary } from "../../shared/api";
import type { Labels } from "../../shared/labels";
import { checkRepositoryPath, type ImageName } from "../../shared/reference";
import { ApiError, invalidField } from "../errors";

/** A validated build request: what it names, its context (not yet stored), and what the response says of the files. */
export interface BuildRequest {
  spec: BuildSpec;
  context: ContextSource;
  files: FilesSummary;
}

/**
 * Where a build's context comes from: a tar this request carries (packed from the seed's form, or its body), to be
 * checked and stored, or a chunked upload that has been completed, checked and stored already.
 */
export type ContextSource =
  | {
      kind: "request";
      /** At most this many bytes will be stored before the check has its real size: counted against the tenant's limit. */
      reservedBytes: number;
      /** The tar (gzip-compressed or not), read once. */
      chunks: () => AsyncIterable<Uint8Array>;
      /** Reads and drops what is left of the request after a refusal. */
      drain: () => Promise<void>;
      /** The request body's own 400/408, if it had one. */
      failure: () => ApiError | null;
    }
  | { kind: "upload"; uploadId: string; contextBytes: number };

export interface BuildSpec {
  image: ImageName;
  userName: string;
  labels: Labels;
  idempotencyKey: string | null;
  password?: string;
  /** The build's own notify_url, not yet checked against the tenant's webhook settings (submit.ts does). */
  notifyUrl?: string;
}

/** Adds one text field, refusing a field given twice (in the query and the form, say). */
export function addField(fields: Record<string, string>, key: string, value: string): void {
  if (key in fields) throw new ApiError(400, `${key} was given more than once`, key);
  fields[key] = value;
}

function readIdempotencyKey(headers: Headers): string | null {
  const key = headers.get(IDEMPOTENCY_HEADER);
  if (key === null) return null;
  if (!IDEMPOTENCY_KEY.test(key)) {
    throw new ApiError(400, `${IDEMPOTENCY_HEADER} must be 1 to 255 visible ASCII characters`, IDEMPOTENCY_HEADER);
  }
  return key;
}

/**
 * `fields` are the request's text fields (query string or form); the password may come in its header
 * instead, and is then checked with them. `accepted` names every field the endpoint takes, for the
 * error about an unknown one.
 */
export function readBuildSpec(fields: Record<string, string>, headers: Headers, accepted: string): BuildSpec {
  const text = { ...fields };
  const headerPassword = headers.get(PASSWORD_HEADER);
  if (headerPassword !== null) {
    if ("password" in text) throw new ApiError(400, `password was given both as a field and in ${PASSWORD_HEADER}`, "password");
    text.password = headerPassword;
  }
  const parsed = buildFields.safeParse(text);
  if (!parsed.success) throw invalidField(parsed.error.issues[0]!, accepted);
  const { user_name, repo, tag, registry, password, labels, notify_url } = parsed.data;
  const path = `${user_name}/${repo}`;
  const pathProblem = checkRepositoryPath(path);
  if (pathProblem) throw new ApiError(400, `repo: ${user_name}/${repo} ${pathProblem}`, "repo");
  return {
    image: { registry, path, tag },
    userName: user_name,
    labels,
    idempotencyKey: readIdempotencyKey(headers),
    // The seed logged in only when a password was given; an empty one means none.
    password: password || undefined,
    notifyUrl: notify_url,
  };
}
