/**
 * The public HTTP API, every request and response shape, as zod schemas: the
 * routes validate with them, the Worker's views are typed by them, and
 * clients and tests import them instead of writing the shapes again.
 *
 * Names follow the wire: snake_case fields, as the seed service had them.
 */
import { z } from "zod";
import { buildEvent } from "./build-log";
import { FAILURE_STEPS, JOB_STATES } from "./job";
import { checkContextPath } from "./context-path";
import { labelsSchema, parseLabels } from "./labels";
import { PLATFORM_TEXT } from "./platform";
import { MAX_SECRET_LINES, MIN_ENCODED_SECRET_CHARS, secretLines } from "./redact";
import { checkPathComponent, checkRegistry, checkRepositoryPath, checkTag, DOCKER_HUB, parseReference, registryKey, type ImageName } from "./reference";

/** Where a client sends the registry password (never the query string, which request logs record). */
export const PASSWORD_HEADER = "X-Registry-Password";
/** A client that retries with the same key gets the same build instead of a second one. */
export const IDEMPOTENCY_HEADER = "Idempotency-Key";
export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
/** Registry passwords are bounded like any other field. */
export const MAX_PASSWORD_CHARS = 4096;
/** A webhook URL, as browsers and most servers bound a URL. */
export const MAX_NOTIFY_URL_CHARS = 2048;
/** Carries each upload part's SHA-256 (RFC 9530): `Content-Digest: sha-256=:<base64>:`. */
export const CONTENT_DIGEST_HEADER = "Content-Digest";
/**
 * Every part of an upload but its last has the upload's part size, at least this. Parts are R2 objects of their
 * own, not multipart parts; the floor (with MAX_PARTS) keeps one upload to a bounded number of requests and rows.
 */
export const MIN_PART_BYTES = 5 * 1024 * 1024;
/** The part size when a client names none. */
export const DEFAULT_PART_BYTES = 8 * 1024 * 1024;
/** An upload has at most this many parts (as many as R2 allows in the multipart upload its context is written as). */
export const MAX_PARTS = 10_000;
/** Logins for the registries a build pulls from or pushes `also_push` to (never the query string). */
export const LOGINS_HEADER = "X-Registry-Logins";
/** Build secrets for `RUN --mount=type=secret,id=…` (never the query string). */
export const SECRETS_HEADER = "X-Build-Secrets";
/** Fields a request may give more than once, each time adding one value. */
export const REPEATABLE_FIELDS: ReadonlySet<string> = new Set(["build_arg", "also_push"]);

// Bounds on build options, logins and secrets, in UTF-8 bytes where they add up. Together they keep an assignment
// (the pool's message to the agent, serialized as JSON) well under the 1 MiB a WebSocket message may carry on
// Cloudflare, whatever a request holds: at most 64 KiB of build arguments as JSON, about 210 KiB of logins (16 of a
// 256-character user name and a 4,096-character password, at 3 bytes a character), 128 KiB of secrets (64 KiB, each
// newline escaped as two bytes) and a few KiB of references. The pool checks the assignment's size too before it
// sends one (MAX_ASSIGNMENT_BYTES in shared/protocol.ts).
export const MAX_BUILD_ARGS = 64;
/** A build argument's name: longer ones are no one's, and each is sent again in every build's request to the Engine. */
export const MAX_BUILD_ARG_NAME_CHARS = 256;
/**
 * All build arguments together, as the JSON object the agent hands the Engine (`buildargs`), in UTF-8 bytes. It goes
 * percent-encoded (at most 3 bytes for each) in the URL of the Engine's build request, whose request line and headers
 * Go's HTTP server takes up to 1 MiB of: 192 KiB at worst leaves the rest of the request plenty.
 */
export const MAX_BUILD_ARGS_JSON_BYTES = 64 * 1024;
export const MAX_BUILD_ARG_VALUE_CHARS = 4096;
/** `docker build` passes a build argument's name as an environment variable's: letters, digits, `_`. */
export const BUILD_ARG_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Build arguments that steer BuildKit itself (cache-mount namespaces, frontends) are the agent's alone. */
export const RESERVED_BUILD_ARG_PREFIX = "BUILDKIT_";
export const BUILD_TARGET = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
/** The protocol's own bound: the job's reference and 16 more. */
export const MAX_ALSO_PUSH = 16;
export const MAX_LOGINS = 16;
export const MAX_SECRETS = 32;
export const SECRET_ID = /^[A-Za-z0-9_.-]{1,128}$/;
export const MAX_SECRET_BYTES = 64 * 1024;
/**
 * All of a build's secrets together: a PEM key is about 3 KiB, and this keeps the header under the 128 KB a
 * Cloudflare request's headers may hold in all, and the assignment under its message bound.
 */
export const MAX_SECRETS_TOTAL_BYTES = 64 * 1024;
/** The Dockerfile's path inside a tarball context, bounded like any path in it. */
export const MAX_DOCKERFILE_PATH_BYTES = 4096;

// --- Errors -------------------------------------------------------------------

/** Every error answer: what is wrong and, when one input is at fault, which (`field`). */
export const errorBody = z
  .object({
    error: z.string(),
    field: z.string().optional(),
    /** The seed's own text, kept on its 418. */
    detail: z.string().optional(),
  })
  .meta({ id: "Error" });
export type ErrorBody = z.infer<typeof errorBody>;

// --- Requests -----------------------------------------------------------------

/** A refinement from one of the reference grammar's checks, which return a sentence or null. */
function grammar(check: (value: string) => string | null) {
  return (value: string, ctx: z.RefinementCtx) => {
    const problem = check(value);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  };
}

/** A value as an error message quotes it: its start only, since a refused value may be megabytes. */
function shown(text: string): string {
  return text.length > 64 ? `${text.slice(0, 64)}…` : text;
}

function utf8Bytes(text: string): number {
  return new TextEncoder().encode(text).length;
}

/** No control characters at all, newline and tab included: one line of text. */
const ONE_LINE = /^[^\u0000-\u001f\u007f-\u009f]*$/;
const CONTROL_MESSAGE = "must not contain control characters (newline, tab, escape, …)";
/**
 * Half of a UTF-16 surrogate pair with no other half: JSON can carry one (`"\ud800"`), but it is no text, so no
 * encoding of it exists for the redactor to look for (encodeURIComponent throws on it).
 */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const wellFormed = (value: string): boolean => !LONE_SURROGATE.test(value);
const WELL_FORMED_MESSAGE = "must be well-formed text (no lone UTF-16 surrogate)";

/** A registry password: bounded, and on one line, since a newline would split it over two log lines, where neither half is the secret the redactor looks for. */
const passwordText = z
  .string()
  .max(MAX_PASSWORD_CHARS, `must be at most ${MAX_PASSWORD_CHARS} characters`)
  .regex(ONE_LINE, CONTROL_MESSAGE)
  .refine(wellFormed, WELL_FORMED_MESSAGE);

/** `KEY=VALUE` pairs as the build's arguments; a name given twice or reserved to the agent is refused. */
const buildArgs = z
  .array(z.string())
  .max(MAX_BUILD_ARGS, `may be given at most ${MAX_BUILD_ARGS} times`)
  .default([])
  .transform((pairs, ctx) => {
    // A Map, not `{}`: `constructor` or `toString` are names like any other, and `in` on an object finds its prototype's.
    const args = new Map<string, string>();
    for (const pair of pairs) {
      const equals = pair.indexOf("=");
      const name = equals === -1 ? pair : pair.slice(0, equals);
      const value = pair.slice(equals + 1);
      const problem =
        equals === -1 ? `'${shown(pair)}' is not KEY=VALUE`
        : name.length > MAX_BUILD_ARG_NAME_CHARS ? `a build argument name must be at most ${MAX_BUILD_ARG_NAME_CHARS} characters`
        : !BUILD_ARG_NAME.test(name) ? `'${shown(name)}' is not a build argument name (letters, digits and '_', not starting with a digit)`
        : name.toUpperCase().startsWith(RESERVED_BUILD_ARG_PREFIX) ? `'${name}' is refused: names starting with ${RESERVED_BUILD_ARG_PREFIX} steer the builder itself (cache namespaces, frontends)`
        : value.length > MAX_BUILD_ARG_VALUE_CHARS ? `'${name}': the value must be at most ${MAX_BUILD_ARG_VALUE_CHARS} characters`
        : !ONE_LINE.test(value) ? `'${name}': the value ${CONTROL_MESSAGE}`
        : name === PROTO_KEY ? `'${PROTO_KEY}' is not a build argument name here: a JSON object cannot carry it to the agent intact`
        : args.has(name) ? `'${name}' was given more than once`
        : null;
      if (problem) {
        ctx.addIssue({ code: "custom", message: problem });
        return z.NEVER;
      }
      args.set(name, value);
    }
    const object = Object.fromEntries(args);
    if (utf8Bytes(JSON.stringify(object)) > MAX_BUILD_ARGS_JSON_BYTES) {
      ctx.addIssue({ code: "custom", message: `all build arguments together must be at most ${MAX_BUILD_ARGS_JSON_BYTES} bytes as JSON` });
      return z.NEVER;
    }
    return object;
  });

/** More references to push from the same build, each a full image reference. */
const alsoPush = z
  .array(z.string())
  .max(MAX_ALSO_PUSH, `may be given at most ${MAX_ALSO_PUSH} times`)
  .default([])
  .transform((texts, ctx) => {
    const images: ImageName[] = [];
    for (const text of texts) {
      const parsed = parseReference(text);
      if ("error" in parsed) {
        ctx.addIssue({ code: "custom", message: `${parsed.error} (expected registry/path:tag, or path:tag on Docker Hub)` });
        return z.NEVER;
      }
      images.push(parsed.image);
    }
    return images;
  });

/** `k=v,k=v` as labels, or the parser's sentence as the field's error. */
const labelsText = z.string().default("").transform((text, ctx) => {
  const parsed = parseLabels(text);
  if ("labels" in parsed) return parsed.labels;
  ctx.addIssue({ code: "custom", message: parsed.error });
  return z.NEVER;
});

/** The image and routing fields every build request names, wherever they travel (query string or form). */
export const buildFields = z.strictObject({
  user_name: z.string().superRefine(grammar(checkPathComponent)).meta({
    description: "a lower-case Docker path component; the first part of the repository and the registry login name",
  }),
  repo: z.string().superRefine(grammar(checkRepositoryPath)).meta({ description: "the repository path under user_name, e.g. web or team/web" }),
  tag: z.string().default("latest").superRefine(grammar(checkTag)),
  registry: z.string().default(DOCKER_HUB).superRefine(grammar(checkRegistry)).meta({ description: "host or host:port" }),
  /** In a form field or the X-Registry-Password header (or, from old clients, the query string). */
  password: passwordText.optional(),
  labels: labelsText.meta({ description: "k=v,k=v: only an agent with all these labels builds it" }),
  notify_url: z
    .string()
    .max(MAX_NOTIFY_URL_CHARS, `must be at most ${MAX_NOTIFY_URL_CHARS} characters`)
    .optional()
    .meta({
      description:
        "an https URL the pool POSTs the build's record to when it ends, signed (README, Webhooks); default: the tenant's own from DOCKIFY_WEBHOOKS",
    }),
  build_arg: buildArgs.meta({
    description: `KEY=VALUE, a build argument; repeat for several (at most ${MAX_BUILD_ARGS}); names starting ${RESERVED_BUILD_ARG_PREFIX} are refused`,
  }),
  target: z.string().regex(BUILD_TARGET, "must be a stage name: letters, digits, '_', '.', '-' (at most 128, starting with a letter or digit)").optional().meta({
    description: "the stage to build (FROM … AS <target>)",
  }),
  no_cache: z
    .enum(["true", "false", "1", "0"], "must be true or false (or 1 or 0)")
    .optional()
    .transform((value) => value === "true" || value === "1")
    .meta({ description: "true: run every step, reusing nothing from the build cache" }),
  platform: z.string().regex(PLATFORM_TEXT, "must be os/arch or os/arch/variant, e.g. linux/amd64 or linux/arm64/v8").optional().meta({
    description: "os/arch[/variant]: only an agent whose Engine builds this platform builds it; it waits (and says why) until one is connected",
  }),
  also_push: alsoPush.meta({
    description: `a further reference pushed from the same build, registry/path:tag (or path:tag on Docker Hub); repeat for several (at most ${MAX_ALSO_PUSH})`,
  }),
});
export type BuildFields = z.output<typeof buildFields>;

/** A tarball build's fields: a Dockerfile may be anywhere in the context. The password is checked with them, from its header. */
export const tarballBuildFields = buildFields.extend({
  dockerfile: z
    .string()
    .default("Dockerfile")
    .superRefine(grammar((path) => checkContextPath(path, MAX_DOCKERFILE_PATH_BYTES)))
    .meta({ description: "the Dockerfile's path inside the context (default Dockerfile)" }),
});

/** `POST /v1/builds`: the same fields in the query string, except the password, which goes in its header. */
export const tarballBuildQuery = tarballBuildFields.omit({ password: true });
export type TarballBuildQuery = z.output<typeof tarballBuildQuery>;

/**
 * `POST /build`: each text field in the query string (as the seed took them) or in the form, once;
 * the files in the form. The text fields are checked with `buildFields`; the files by the form's reader.
 */
export const seedBuildQuery = buildFields.partial();
export const seedBuildForm = buildFields.partial().extend({
  dockerfile: z.file().meta({ description: "the Dockerfile; its upload name must end in Dockerfile (any case), else 418" }),
  optional_files: z.array(z.file()).optional().meta({ description: "files placed in the context under their upload names" }),
});

/** base64url (padding optional) of JSON, as the logins and secrets headers carry it. */
export function encodeHeaderJson(value: unknown): string {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The JSON a header carries as base64url (standard base64 is taken too), or undefined when it is not that. */
export function decodeHeaderJson(text: string): unknown {
  const base64 = text.trim().replace(/-/g, "+").replace(/_/g, "/");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64)) return undefined;
  try {
    const binary = atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, "="));
    const bytes = Uint8Array.from(binary, (char) => char.charCodeAt(0));
    return JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes)) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * A key no object built from JSON keeps: a schema's record would drop it silently (a login not used, a secret neither
 * passed nor redacted), so an object naming it is refused before it is read.
 */
const PROTO_KEY = "__proto__";

function withoutProtoKey<T extends z.ZodType>(schema: T, what: string) {
  return z
    .unknown()
    .superRefine((value, ctx) => {
      if (typeof value === "object" && value !== null && Object.hasOwn(value, PROTO_KEY)) {
        ctx.addIssue({ code: "custom", message: `'${PROTO_KEY}' is not ${what}`, path: [PROTO_KEY] });
      }
    })
    .pipe(schema);
}

/** A registry's login in X-Registry-Logins. A `:` would end the user name early in HTTP Basic auth. */
export const registryLogin = z.strictObject({
  username: z.string().min(1, "must not be empty").max(256, "must be at most 256 characters").regex(/^[^:\u0000-\u001f\u007f-\u009f]*$/, "must not contain ':' or control characters"),
  password: passwordText.min(1, "must not be empty"),
});
export type RegistryLogin = z.infer<typeof registryLogin>;

/** X-Registry-Logins, decoded: a login per registry host (`docker.io` for Docker Hub), as hosts appear in image references. */
export const registryLogins = withoutProtoKey(
  z
    .record(z.string().superRefine(grammar(checkRegistry)), registryLogin)
    .refine((logins) => Object.keys(logins).length <= MAX_LOGINS, `may hold at most ${MAX_LOGINS} registries`)
    // Keyed as the agent looks logins up (registryKey): `Docker.IO` and `index.docker.io` are `docker.io`.
    .transform((logins, ctx) => {
      const byKey = new Map<string, [string, RegistryLogin]>();
      for (const [host, login] of Object.entries(logins)) {
        const key = registryKey(host);
        const earlier = byKey.get(key);
        if (earlier) {
          ctx.addIssue({ code: "custom", message: `${earlier[0]} and ${host} name the same registry (${key}): give its login once`, path: [host] });
          return z.NEVER;
        }
        byKey.set(key, [host, login]);
      }
      return Object.fromEntries([...byKey].map(([key, [, login]]) => [key, login]));
    }),
  "a registry host",
);
export type RegistryLogins = z.infer<typeof registryLogins>;

/**
 * A build secret's value: any text but control characters other than newline, carriage return and tab (a PEM key has
 * newlines, and one saved on Windows CRLF line ends; the redactor splits lines at either, so each line is still
 * looked for on its own).
 */
const secretValue = z
  .string()
  .min(1, "must not be empty")
  .regex(/^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$/, "must not contain control characters other than newline, carriage return and tab")
  .refine(wellFormed, WELL_FORMED_MESSAGE)
  .refine((value) => new TextEncoder().encode(value).length <= MAX_SECRET_BYTES, `must be at most ${MAX_SECRET_BYTES} bytes`);

/** X-Build-Secrets, decoded: `{id: value}`. */
export const buildSecrets = withoutProtoKey(
  z
    .record(z.string().regex(SECRET_ID, "ids are 1 to 128 letters, digits, '_', '.', '-'"), secretValue)
    .refine((secrets) => Object.keys(secrets).length <= MAX_SECRETS, `may hold at most ${MAX_SECRETS} secrets`)
    .refine(
      (secrets) => Object.values(secrets).reduce((sum, value) => sum + new TextEncoder().encode(value).length, 0) <= MAX_SECRETS_TOTAL_BYTES,
      `may hold at most ${MAX_SECRETS_TOTAL_BYTES} bytes of values in all`,
    )
    .refine(
      (secrets) => Object.values(secrets).reduce((sum, value) => sum + secretLines(value).length, 0) <= MAX_SECRET_LINES,
      `may hold at most ${MAX_SECRET_LINES} lines of ${MIN_ENCODED_SECRET_CHARS} or more characters in all (each is redacted from the log on its own)`,
    ),
  "a secret id",
);
export type BuildSecrets = z.infer<typeof buildSecrets>;

/** Headers every build submission takes. */
export const submitHeaders = z.object({
  [PASSWORD_HEADER]: z.string().optional().meta({ description: "the registry login's password (never the query string)" }),
  [LOGINS_HEADER]: z.string().optional().meta({
    description:
      `base64url of JSON {"<host[:port]>": {"username": "…", "password": "…"}}: logins for the registries the build pulls from or pushes also_push to ` +
      `(docker.io for Docker Hub; at most ${MAX_LOGINS})`,
  }),
  [SECRETS_HEADER]: z.string().optional().meta({
    description: `base64url of JSON {"<id>": "<value>"}: build secrets for RUN --mount=type=secret,id=<id> (at most ${MAX_SECRETS}, ${MAX_SECRETS_TOTAL_BYTES} bytes in all)`,
  }),
  [IDEMPOTENCY_HEADER]: z
    .string()
    .regex(IDEMPOTENCY_KEY)
    .optional()
    .meta({ description: "a retry with the same key answers with the first build instead of starting another" }),
});

/** A build's id, as every route that names one takes it. */
export const buildId = z.uuid().meta({ description: "the build's id, as POST answered it" });
/** Path parameters: `/v1/builds/{id}…` and the seed's `/status/{task_id}`. */
export const buildIdParams = z.object({ id: buildId });
export const taskIdParams = z.object({ task_id: z.string().meta({ description: "the task_id POST /build answered" }) });

/** `(created_at ms).(id)` of the last build of a page. */
export const LIST_CURSOR = /^(\d{1,15})\.([0-9a-f-]{36})$/;

/** An upload's id, as every route that names one takes it. */
export const uploadId = z.uuid().meta({ description: "the upload's id, as POST /v1/uploads answered it" });

/** `POST /v1/builds?upload=<id>&…`: a build whose context is a completed chunked upload, no body. */
export const uploadBuildQuery = tarballBuildQuery.extend({
  upload: uploadId.meta({ description: "the id of a chunked upload that has been completed (state ready)" }),
});

/** `POST /v1/builds`, as documented: the tarball's fields, and `upload` when the context is a completed upload instead of the body. */
export const submitBuildQuery = tarballBuildQuery.extend({
  upload: uploadId
    .optional()
    .meta({ description: "the id of a completed chunked upload (state ready) to build from; the request then has no body" }),
});

/** `POST /v1/uploads`: a chunked upload of `size` bytes (a tar, gzip-compressed or not), sent in parts of `part_size`. */
export const createUploadRequest = z
  .strictObject({
    size: z.number().int().min(1).meta({ description: "the whole upload's bytes, as they will be sent" }),
    part_size: z.number().int().min(MIN_PART_BYTES).optional().meta({
      description: `bytes of every part but the last (default ${DEFAULT_PART_BYTES}); at most DOCKIFY_MAX_PART_BYTES, and at most ${MAX_PARTS} parts`,
    }),
  })
  .meta({ id: "CreateUpload" });
export type CreateUploadRequest = z.infer<typeof createUploadRequest>;

/** A part's number in `PUT /v1/uploads/{id}/parts/{number}`, from 1. */
export const partNumber = z.coerce.number().int().min(1).max(MAX_PARTS);

/** Path parameters: `/v1/uploads/{id}…` and `/v1/uploads/{id}/parts/{number}`. */
export const uploadIdParams = z.object({ id: uploadId });
export const uploadPartParams = z.object({
  id: uploadId,
  number: partNumber.meta({ description: "the part's number, from 1 to the upload's part_count" }),
});

/** What every part request carries besides its bytes. */
export const uploadPartHeaders = z.object({
  [CONTENT_DIGEST_HEADER]: z.string().meta({ description: "the part's SHA-256 as RFC 9530 writes it: sha-256=:<base64>:" }),
  "Content-Length": z.string().meta({ description: "exactly the bytes the part's number calls for (part_size, or what is left for the last)" }),
});

export const listBuildsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().regex(LIST_CURSOR, "must be the next_cursor of an earlier page").optional(),
});

// --- Responses ----------------------------------------------------------------

/** A file of the docs or the dashboard, by name. */
export const pageFileParams = z.object({ file: z.string().meta({ description: "a file name, e.g. app.js" }) });

/** The seed's `GET /`: a teapot pointing at the docs. */
export const seedTeapot = z.object({ message: z.string() }).meta({ id: "Teapot" });

/** What the submitter sent, for responses: names and sizes, never contents. */
export const filesSummary = z
  .union([
    z.object({
      dockerfile: z.object({ filename: z.string(), size: z.number().int() }),
      optional_files: z.record(z.string(), z.object({ size: z.number().int() })),
    }),
    z.object({ tarball: z.object({ size: z.number().int() }) }),
    z.object({ upload: z.object({ id: z.string(), size: z.number().int() }) }),
  ])
  .meta({ id: "FilesSummary" });
export type FilesSummary = z.infer<typeof filesSummary>;

/** The seed's answer to an accepted `POST /build`. */
export const seedAccepted = z
  .object({
    task_id: z.string(),
    image_reference: z.string(),
    status: z.literal("Sent to processing queue"),
    data: filesSummary,
  })
  .meta({ id: "SeedAccepted" });
export type SeedAccepted = z.infer<typeof seedAccepted>;

/** A reference the build pushed, with the digest its registry stored. */
export const pushedImage = z.object({ reference: z.string(), digest: z.string() }).meta({ id: "PushedImage" });
export type PushedImage = z.infer<typeof pushedImage>;

/** `GET /status/{task_id}`: the seed's three statuses, a view of the job states. */
export const seedStatus = z
  .discriminatedUnion("status", [
    z.object({
      status: z.literal("processing"),
      /** Said only when no connected agent could ever take the build. */
      waiting: z.string().optional(),
    }),
    z.object({
      status: z.literal("success"),
      image_url: z.string(),
      image_reference: z.string(),
      digest: z.string().nullable(),
      /** Every reference pushed (image_reference first, then each also_push), with the digest its registry stored. */
      pushed: z.array(pushedImage),
    }),
    z.object({ status: z.literal("failed"), step: z.string(), error: z.string() }),
  ])
  .meta({ id: "SeedStatus" });
export type SeedStatus = z.infer<typeof seedStatus>;

/** One step of the Dockerfile as its agent reported it (BuildKit reports them; the classic builder does not). */
export const buildStepView = z
  .object({
    /** As the builder names it, e.g. `[2/3] RUN make`. */
    name: z.string(),
    /** Reused from the build cache rather than run. */
    cached: z.boolean(),
    started_at: z.iso.datetime().nullable(),
    duration_ms: z.number().int().nullable(),
    error: z.string().nullable(),
  })
  .meta({ id: "BuildStep" });
export type BuildStepView = z.infer<typeof buildStepView>;

/** How the build was asked to build, as the request's fields said it (defaults filled in). */
export const buildOptionsView = z
  .object({
    dockerfile: z.string(),
    build_args: z.record(z.string(), z.string()),
    target: z.string().nullable(),
    no_cache: z.boolean(),
    platform: z.string().nullable(),
    also_push: z.array(z.string()),
  })
  .meta({ id: "BuildOptions" });
export type BuildOptionsView = z.infer<typeof buildOptionsView>;

/** A build's full record, as every v1 route answers it. */
export const build = z
  .object({
    id: z.string(),
    state: z.enum(JOB_STATES),
    attempt: z.number().int(),
    image_reference: z.string(),
    image_url: z.string(),
    /** The digest of image_reference. */
    digest: z.string().nullable(),
    /** Every reference pushed, image_reference first, then each also_push; empty until the build has succeeded. */
    pushed: z.array(pushedImage),
    options: buildOptionsView,
    image_id: z.string().nullable(),
    step: z.enum(FAILURE_STEPS).nullable(),
    error: z.string().nullable(),
    labels: labelsSchema,
    /** Why a queued build has not started; null once it has. */
    waiting: z.string().nullable(),
    files: filesSummary,
    /** The Dockerfile's steps, once a build that its agent reported them for has succeeded; empty otherwise. */
    steps: z.array(buildStepView),
    /** Where the pool POSTs the record when the build ends; null: nowhere. */
    notify_url: z.string().nullable(),
    created_at: z.iso.datetime(),
    /** When an agent first took it; null while it has never started. */
    started_at: z.iso.datetime().nullable(),
    finished_at: z.iso.datetime().nullable(),
  })
  .meta({ id: "Build" });
export type Build = z.infer<typeof build>;

export const buildList = z
  .object({
    builds: z.array(build),
    /** Pass back as `cursor` for the next page; null on the last one. */
    next_cursor: z.string().nullable(),
  })
  .meta({ id: "BuildList" });
export type BuildList = z.infer<typeof buildList>;

// --- The tenant's pool: `GET /v1/agents` and `GET /v1/queue` -----------------------

/** What an agent is doing about new builds: taking them, finishing what it runs before it stops, or paused for now. */
export const AGENT_STATES = ["ready", "draining", "paused"] as const;

/** One build agent connected to the tenant's pool, as the pool knows it. */
export const agentView = z
  .object({
    name: z.string(),
    /** The version the agent reported (its package version). */
    version: z.string(),
    labels: labelsSchema,
    /** Builds it runs at once, and how many it runs now (any tenant's). */
    slots: z.number().int(),
    running: z.number().int(),
    /** The ids of this tenant's builds it runs now. */
    builds: z.array(z.string()),
    state: z.enum(AGENT_STATES),
    /** Why a paused agent takes no builds, e.g. `low disk (…)`; null unless paused. */
    paused_reason: z.string().nullable(),
    /** What its Docker Engine builds for, `os/arch[/variant]`; null for agents too old to say. */
    platform: z.string().nullable(),
    /** Which of the Engine's builders runs its builds; null for agents too old to say. */
    builder: z.string().nullable(),
    connected_at: z.iso.datetime(),
    /** Its hello or last heartbeat. */
    last_heartbeat_at: z.iso.datetime(),
  })
  .meta({ id: "Agent" });
export type AgentView = z.infer<typeof agentView>;

export const agentList = z
  .object({
    /** The pool the tenant builds in: these agents are the ones its builds can run on. */
    pool: z.string(),
    agents: z.array(agentView),
  })
  .meta({ id: "AgentList" });
export type AgentList = z.infer<typeof agentList>;

/**
 * Why builds wait: `unmatched`, no connected agent could build them; `paused`, every one that could is paused until its
 * operator or its host acts; `busy`, one could once a slot frees.
 */
export const WAITING_KINDS = ["unmatched", "paused", "busy"] as const;

/** The tenant's waiting builds in its pool, grouped by why they wait. */
export const queueSummary = z
  .object({
    pool: z.string(),
    /** The tenant's builds waiting for an agent. */
    waiting: z.number().int(),
    /** How long the tenant's oldest waiting build has waited; null when none waits. */
    oldest_wait_seconds: z.number().nullable(),
    oldest_build: z.string().nullable(),
    reasons: z.array(z.object({ kind: z.enum(WAITING_KINDS), reason: z.string(), builds: z.number().int() })),
    /** Every tenant's waiting builds in the pool: the queue the tenant's builds stand in. */
    pool_waiting: z.number().int(),
  })
  .meta({ id: "Queue" });
export type QueueSummary = z.infer<typeof queueSummary>;

// --- Webhooks: what the pool POSTs to a build's notify_url, and `GET /v1/builds/{id}/deliveries` ---

/** The header carrying `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` (README, Webhooks). */
export const SIGNATURE_HEADER = "Dockify-Signature";
/** The delivery's id, also in the body: the same on every attempt, so receivers can drop repeats. */
export const DELIVERY_HEADER = "Dockify-Delivery";
export const EVENT_HEADER = "Dockify-Event";
export const WEBHOOK_EVENTS = ["build.finished"] as const;

/** The body of a webhook request. */
export const webhookEvent = z
  .object({
    /** The delivery's id: the same on every attempt. */
    id: z.uuid(),
    type: z.enum(WEBHOOK_EVENTS),
    /** 1 for the first try; a receiver that saw the id already can drop this one. */
    attempt: z.number().int().min(1),
    created_at: z.iso.datetime(),
    build,
  })
  .meta({ id: "WebhookEvent" });
export type WebhookEvent = z.infer<typeof webhookEvent>;

/** `pending`: will be tried (again); `delivered`: a 2xx answer; `failed`: given up (attempts spent, or the URL refused). */
export const DELIVERY_STATES = ["pending", "delivered", "failed"] as const;

export const webhookAttempt = z
  .object({
    attempt: z.number().int().min(1),
    at: z.iso.datetime(),
    duration_ms: z.number().int().min(0),
    /** The receiver's HTTP status; null when there was no answer (timeout, refused connection, refused URL). */
    status_code: z.number().int().nullable(),
    /** Why the attempt failed; null for a 2xx. */
    error: z.string().nullable(),
  })
  .meta({ id: "WebhookAttempt" });
export type WebhookAttempt = z.infer<typeof webhookAttempt>;

export const webhookDelivery = z
  .object({
    id: z.uuid(),
    event: z.enum(WEBHOOK_EVENTS),
    url: z.string(),
    state: z.enum(DELIVERY_STATES),
    attempts: z.array(webhookAttempt),
    /** When the next attempt is due; null once delivered or failed. */
    next_attempt_at: z.iso.datetime().nullable(),
    created_at: z.iso.datetime(),
    finished_at: z.iso.datetime().nullable(),
  })
  .meta({ id: "WebhookDelivery" });
export type WebhookDelivery = z.infer<typeof webhookDelivery>;

export const deliveryList = z.object({ deliveries: z.array(webhookDelivery) }).meta({ id: "WebhookDeliveryList" });
export type DeliveryList = z.infer<typeof deliveryList>;

// --- Live logs: `GET /v1/builds/{id}/logs` as Server-Sent Events ---------------

/** The stream is asked for with `Accept: text/event-stream`, or with this query parameter set to 1 (or true). */
export const FOLLOW_QUERY = "follow";
export const EVENT_STREAM_TYPE = "text/event-stream";
/** A client that reconnects sends the id of the last message it got; the stream goes on after it. */
export const LAST_EVENT_ID_HEADER = "Last-Event-ID";
/** An SSE id: the number of a line of the build's log (1 for its first line), so it stays the same once the log is archived. */
export const logLineNumber = z.number().int().min(0);
export const lastEventId = z
  .string()
  .regex(/^\d{1,9}$/, "must be the id of a message of this stream (a line number)")
  .transform(Number);

/** How a client asks for the live log: `?follow=1`, or `Accept: text/event-stream`; resuming with Last-Event-ID. */
export const followQuery = z.object({
  [FOLLOW_QUERY]: z.enum(["1", "true", "0", "false"]).optional().meta({ description: "1 (or true): the live log as Server-Sent Events" }),
});
export const followHeaders = z.object({
  Accept: z.string().optional().meta({ description: `${EVENT_STREAM_TYPE}: the live log as Server-Sent Events` }),
  [LAST_EVENT_ID_HEADER]: z.string().optional().meta({ description: "resume after this message id (a line number)" }),
});

/** The SSE event names of a live log, in the `event:` field of each message. */
export const LOG_STREAM_EVENTS = {
  /** A line of the build's own output; its data is the text. */
  line: "line",
  /** One of Dockify's own entries; its data is the event as JSON (`BuildEvent`). */
  event: "event",
  /** The last message: the build has ended; its data is the final record (`Build`). */
  end: "end",
  /** The last message when the client read too slowly: reconnect with Last-Event-ID to go on. */
  cutoff: "cutoff",
} as const;

export const logStreamCutoff = z
  .object({
    reason: z.string(),
    /** The id of the last line sent: reconnect with it as Last-Event-ID. */
    last_event_id: logLineNumber,
  })
  .meta({ id: "LogStreamCutoff" });
export type LogStreamCutoff = z.infer<typeof logStreamCutoff>;

/**
 * One message of a live log, as a client sees it after parsing: its `id`, its
 * event name and its data, decoded (`line` text as it is, the others JSON).
 * `end` and `cutoff` carry the id of the last line, so a reconnect from them
 * repeats nothing.
 */
export const logStreamMessage = z
  .discriminatedUnion("event", [
    z.object({ event: z.literal(LOG_STREAM_EVENTS.line), id: logLineNumber, data: z.string() }),
    z.object({ event: z.literal(LOG_STREAM_EVENTS.event), id: logLineNumber, data: buildEvent }),
    z.object({ event: z.literal(LOG_STREAM_EVENTS.end), id: logLineNumber, data: build }),
    z.object({ event: z.literal(LOG_STREAM_EVENTS.cutoff), id: logLineNumber, data: logStreamCutoff }),
  ])
  .meta({ id: "LogStreamMessage" });
export type LogStreamMessage = z.infer<typeof logStreamMessage>;

/**
 * A parsed SSE message (`id`, `event`, `data`, as an SSE parser gives them)
 * as a typed live-log message; throws when it is not one.
 */
export function decodeLogStreamMessage(message: { id?: string; event?: string; data: string }): LogStreamMessage {
  const data = message.event === LOG_STREAM_EVENTS.line ? message.data : (JSON.parse(message.data) as unknown);
  return logStreamMessage.parse({ id: Number(message.id), event: message.event, data });
}

// --- Chunked uploads ------------------------------------------------------------

/** open: taking parts; checking: completed, its tar being checked and re-packed; ready: a build may name it. */
export const UPLOAD_STATES = ["open", "checking", "ready"] as const;
export type UploadState = (typeof UPLOAD_STATES)[number];

/** A part the Worker has stored: its size and SHA-256 (base64, as in Content-Digest), to resume an upload. */
export const uploadPart = z
  .object({ number: z.number().int(), size: z.number().int(), sha256: z.string() })
  .meta({ id: "UploadPart" });
export type UploadPart = z.infer<typeof uploadPart>;

export const upload = z
  .object({
    id: z.string(),
    state: z.enum(UPLOAD_STATES),
    size: z.number().int(),
    part_size: z.number().int(),
    part_count: z.number().int(),
    parts_received: z.number().int(),
    received_bytes: z.number().int(),
    /** Bytes of the checked context, once ready. */
    context_bytes: z.number().int().nullable(),
    created_at: z.iso.datetime(),
    /** When an upload left as it is gets deleted (each part, and completing it, moves this on). */
    expires_at: z.iso.datetime(),
  })
  .meta({ id: "Upload" });
export type Upload = z.infer<typeof upload>;

/** One upload with the parts received so far: what a client resuming it re-sends is whatever is missing. */
export const uploadDetail = upload.extend({ parts: z.array(uploadPart) }).meta({ id: "UploadDetail" });
export type UploadDetail = z.infer<typeof uploadDetail>;

export const uploadList = z.object({ uploads: z.array(upload) }).meta({ id: "UploadList" });
export type UploadList = z.infer<typeof uploadList>;
