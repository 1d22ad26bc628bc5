/**
 * What every build request names, however its context arrives: the image
 * (user, repository, tag, registry), labels, how to build it, the registry
 * password, the other registries' logins, build secrets and an idempotency
 * key. Checked with shared/api.ts's schemas before anything is stored.
 */
import type { z } from "zod";
import {
  buildFields,
  buildSecrets,
  decodeHeaderJson,
  IDEMPOTENCY_HEADER,
  IDEMPOTENCY_KEY,
  LOGINS_HEADER,
  PASSWORD_HEADER,
  registryLogins,
  REPEATABLE_FIELDS,
  SECRETS_HEADER,
  tarballBuildFields,
  type BuildFields,
  type BuildSecrets,
  type FilesSummary,
  type RegistryLogins,
} from "../../shared/api";
import { DOCKERFILE_PATH } from "../../shared/context-path";
import type { Labels } from "../../shared/labels";
import { MAX_BUILD_OPTIONS_BYTES, type BuildOptions } from "../../shared/protocol";
import { checkRepositoryPath, formatReference, registryKey, type ImageName } from "../../shared/reference";
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
  options: BuildOptions;
  /** More references pushed from the same build, after `image`. */
  alsoPush: ImageName[];
  /** X-Registry-Logins: a login per registry host. Secret, like the password. */
  logins: RegistryLogins;
  /** X-Build-Secrets: `{id: value}`. Secret. */
  secrets: BuildSecrets;
}

/** A request's text fields: one value each, a list for the repeatable ones (build_arg, also_push). */
export type TextFields = Record<string, string | string[]>;

/** Without a prototype: a field named `constructor` or `__proto__` is an own field like any other (and refused as unknown). */
export function newTextFields(): TextFields {
  return Object.create(null) as TextFields;
}

/** Adds one text field, refusing a field given twice (in the query and the form, say) unless it is repeatable. */
export function addField(fields: TextFields, key: string, value: string): void {
  if (REPEATABLE_FIELDS.has(key)) {
    const values = fields[key];
    if (Array.isArray(values)) values.push(value);
    else fields[key] = [value];
    return;
  }
  if (Object.hasOwn(fields, key)) throw new ApiError(400, `${key} was given more than once`, key);
  fields[key] = value;
}

/**
 * A header of base64url JSON checked with `schema`. A refusal names the header and where in it the problem is
 * (a host, a secret id), never a value: those are secrets.
 */
function readHeaderJson<T extends z.ZodType>(headers: Headers, name: string, schema: T, shape: string): z.output<T> | undefined {
  const text = headers.get(name);
  if (text === null) return undefined;
  const json = decodeHeaderJson(text);
  if (json === undefined) throw new ApiError(400, `${name} must be base64url of JSON ${shape}`, name);
  const parsed = schema.safeParse(json);
  if (parsed.success) return parsed.data as z.output<T>;
  const issue = parsed.error.issues[0]!;
  const where = issue.path.length > 0 ? ` ${issue.path.map(String).join(".")}` : "";
  const message = issue.code === "invalid_type" ? `must be JSON ${shape}` : issue.message;
  throw new ApiError(400, `${name}${where}: ${message}`, name);
}

/** The logins, refusing one for the push registry when the password names that login already. */
function readLogins(headers: Headers, registry: string, password: string | undefined): RegistryLogins {
  const logins = readHeaderJson(headers, LOGINS_HEADER, registryLogins, '{"<host[:port]>": {"username": "...", "password": "..."}}') ?? {};
  if (password && Object.hasOwn(logins, registryKey(registry))) {
    throw new ApiError(400, `${LOGINS_HEADER} names ${registry}, whose login is already user_name and ${PASSWORD_HEADER}: give it once`, LOGINS_HEADER);
  }
  return logins;
}

/** Each further reference once, and none the job's own. */
function checkAlsoPush(image: ImageName, alsoPush: readonly ImageName[]): void {
  const seen = new Set([formatReference(image)]);
  for (const other of alsoPush) {
    const reference = formatReference(other);
    if (seen.has(reference)) throw new ApiError(400, `also_push: ${reference} is named twice (or is the build's own reference)`, "also_push");
    seen.add(reference);
  }
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
export function readBuildSpec(
  fields: TextFields,
  headers: Headers,
  accepted: string,
  schema: typeof buildFields | typeof tarballBuildFields = buildFields,
): BuildSpec {
  const text = Object.assign(newTextFields(), fields);
  const headerPassword = headers.get(PASSWORD_HEADER);
  if (headerPassword !== null) {
    if (Object.hasOwn(text, "password")) throw new ApiError(400, `password was given both as a field and in ${PASSWORD_HEADER}`, "password");
    text.password = headerPassword;
  }
  const parsed = schema.safeParse(text);
  if (!parsed.success) throw invalidField(parsed.error.issues[0]!, accepted);
  // Only a tarball's schema has `dockerfile`; the seed's Dockerfile is always `Dockerfile` in the context it packs.
  const data: BuildFields & { dockerfile?: string } = parsed.data;
  const { user_name, repo, tag, registry, labels, notify_url, build_arg, target, no_cache, platform, also_push } = data;
  // The seed logged in only when a password was given; an empty one means none.
  const password = data.password || undefined;
  const path = `${user_name}/${repo}`;
  const pathProblem = checkRepositoryPath(path);
  if (pathProblem) throw new ApiError(400, `repo: ${user_name}/${repo} ${pathProblem}`, "repo");
  const image = { registry, path, tag };
  checkAlsoPush(image, also_push);
  const options: BuildOptions = {
    dockerfile: data.dockerfile ?? DOCKERFILE_PATH,
    buildArgs: build_arg,
    ...(target !== undefined && { target }),
    noCache: no_cache,
    ...(platform !== undefined && { platform }),
  };
  // The fields' own bounds keep this far under; a new option that forgets its bound is refused here, not stored.
  if (new TextEncoder().encode(JSON.stringify(options)).length > MAX_BUILD_OPTIONS_BYTES) {
    throw new ApiError(400, `build_arg: the build's options must be at most ${MAX_BUILD_OPTIONS_BYTES} bytes as JSON`, "build_arg");
  }
  return {
    image,
    userName: user_name,
    labels,
    idempotencyKey: readIdempotencyKey(headers),
    password,
    notifyUrl: notify_url,
    options,
    alsoPush: also_push,
    logins: readLogins(headers, registry, password),
    secrets: readHeaderJson(headers, SECRETS_HEADER, buildSecrets, '{"<id>": "<value>"}') ?? {},
  };
}
