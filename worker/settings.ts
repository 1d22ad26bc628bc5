/**
 * The Worker's tunable settings, read from its plain variables with one
 * schema. A bad value is not quietly replaced by the default: the Worker
 * answers 503 naming every variable that is wrong (SettingsError), as it does
 * for a missing secret key. No Workers types here, so Node code can use it.
 */
import valid from "semver/functions/valid";
import { z } from "zod";
import { MIN_PART_BYTES } from "../shared/api";
import { MAX_TIMER_SECONDS } from "../shared/timers";

export interface SettingsVars {
  DOCKIFY_LEASE_SECONDS?: string;
  DOCKIFY_HEARTBEAT_SECONDS?: string;
  DOCKIFY_MAX_ATTEMPTS?: string;
  DOCKIFY_MAX_REQUEST_BYTES?: string;
  DOCKIFY_MAX_FILES?: string;
  DOCKIFY_MAX_DOCKERFILE_BYTES?: string;
  DOCKIFY_MAX_CONTEXT_ENTRIES?: string;
  DOCKIFY_TENANT_MAX_QUEUED?: string;
  DOCKIFY_TENANT_MAX_CONTEXT_BYTES?: string;
  DOCKIFY_MIN_AGENT_VERSION?: string;
  DOCKIFY_WEBHOOK_TIMEOUT_SECONDS?: string;
  DOCKIFY_WEBHOOK_RETRY_SECONDS?: string;
  DOCKIFY_WEBHOOK_MAX_ATTEMPTS?: string;
  DOCKIFY_WEBHOOK_ALLOW_HTTP_LOOPBACK?: string;
  DOCKIFY_WEBHOOK_DOH_URL?: string;
  DOCKIFY_MAX_CONTEXT_BYTES?: string;
  DOCKIFY_MAX_PART_BYTES?: string;
  DOCKIFY_UPLOAD_EXPIRY_SECONDS?: string;
  DOCKIFY_TENANT_MAX_UPLOADS?: string;
  DOCKIFY_BODY_IDLE_SECONDS?: string;
}

export interface Settings {
  leaseMs: number;
  heartbeatMs: number;
  maxAttempts: number;
  maxRequestBytes: number;
  maxFiles: number;
  maxDockerfileBytes: number;
  maxContextEntries: number;
  tenantMaxQueued: number;
  tenantMaxContextBytes: number;
  /** Agents reporting an older version are refused (agent-version.ts); null: any version. */
  minAgentVersion: string | null;
  /** How long one webhook attempt may take before it counts as failed. */
  webhookTimeoutMs: number;
  /** The wait before the first retry of a webhook; each retry after waits three times longer (capped at an hour). */
  webhookRetryMs: number;
  webhookMaxAttempts: number;
  /** Plain http to a loopback address is allowed for notify URLs (wrangler dev and tests only). */
  webhookAllowHttpLoopback: boolean;
  /** The DNS-over-HTTPS resolver (JSON API) the pool asks where a notify URL's host points before each attempt. */
  webhookDohUrl: string;
  /** The largest context, as the tar the agent receives (after decompression). */
  maxContextBytes: number;
  /** The largest part of a chunked upload; a part request holds its part in memory. */
  maxPartBytes: number;
  /** An upload with no new part (nor a build) for this long is abandoned and deleted. */
  uploadExpiryMs: number;
  tenantMaxUploads: number;
  /** A request body that sends nothing for this long is answered 408. */
  bodyIdleMs: number;
}

export class SettingsError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(message);
  }
}

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
/** R2 deletes at most this many keys in one call. */
export const R2_MAX_DELETE_KEYS = 1000;
/** R2's most parts in one multipart upload, which the Worker writes a checked context as. */
export const R2_MAX_PARTS = 10_000;
/**
 * The largest DOCKIFY_MAX_PART_BYTES: a part request holds its whole part in memory (and R2's put a copy of it)
 * until its SHA-256 matches, and a Worker isolate has 128 MB for every request it serves at once.
 */
export const MAX_PART_BYTES_CAP = 32 * MIB;
/**
 * The part the Worker gathers in memory while it writes a checked context to R2 (part-writer.ts): the one
 * buffer a context costs the Worker, whatever its size, and 10,000 of them make the largest context it can write.
 */
export const CONTEXT_PART_BYTES = 8 * MIB;

/** A whole number of `unit` from `min` to `max`; unset or empty means `fallback`. */
function whole(unit: string, fallback: number, max = Number.MAX_SAFE_INTEGER, min = 1) {
  return z
    .string()
    .optional()
    .transform((text, ctx) => {
      if (text === undefined || text.trim() === "") return fallback;
      // Any spelling of a whole number that JavaScript reads as one (30, 30.0, 3e1) is taken, as it always was.
      const value = Number(text);
      if (!Number.isSafeInteger(value)) {
        ctx.addIssue({ code: "custom", message: `must be a whole number of ${unit} (got ${JSON.stringify(text)})` });
        return z.NEVER;
      }
      if (value < min || value > max) {
        ctx.addIssue({ code: "custom", message: `must be from ${min} to ${max} ${unit} (got ${value})` });
        return z.NEVER;
      }
      return value;
    });
}

/** A semantic version (`0.2.0`, `1.0.0-rc.1`), as agents report theirs; unset or empty means none. */
const version = z
  .string()
  .optional()
  .transform((text, ctx) => {
    if (text === undefined || text.trim() === "") return null;
    const parsed = valid(text.trim());
    if (parsed === null) ctx.addIssue({ code: "custom", message: `must be a version such as 0.2.0 (got ${JSON.stringify(text)})` });
    return parsed;
  });

/** `true` or `false`; unset or empty means false. */
const flag = z
  .string()
  .optional()
  .transform((text, ctx) => {
    const value = (text ?? "").trim();
    if (value === "" || value === "false") return false;
    if (value === "true") return true;
    ctx.addIssue({ code: "custom", message: `must be true or false (got ${JSON.stringify(text)})` });
    return z.NEVER;
  });

/** A URL; unset or empty means `fallback`. */
function url(fallback: string) {
  return z
    .string()
    .optional()
    .transform((text, ctx) => {
      if (text === undefined || text.trim() === "") return fallback;
      if (!URL.canParse(text.trim())) {
        ctx.addIssue({ code: "custom", message: `must be a URL (got ${JSON.stringify(text)})` });
        return z.NEVER;
      }
      return text.trim();
    });
}

export const DEFAULT_DOH_URL = "https://cloudflare-dns.com/dns-query";

const settingsSchema = z.object({
  DOCKIFY_LEASE_SECONDS: whole("seconds", 30, MAX_TIMER_SECONDS),
  DOCKIFY_HEARTBEAT_SECONDS: whole("seconds", 5, MAX_TIMER_SECONDS),
  DOCKIFY_MAX_ATTEMPTS: whole("attempts", 3),
  DOCKIFY_MAX_REQUEST_BYTES: whole("bytes", 32 * MIB),
  DOCKIFY_MAX_FILES: whole("files", 200),
  DOCKIFY_MAX_DOCKERFILE_BYTES: whole("bytes", MIB),
  DOCKIFY_MAX_CONTEXT_ENTRIES: whole("entries", 10_000),
  DOCKIFY_TENANT_MAX_QUEUED: whole("builds", 100),
  // Room for the largest context twice: a chunked upload's parts and the checked context exist together while it is checked.
  DOCKIFY_TENANT_MAX_CONTEXT_BYTES: whole("bytes", 16 * GIB),
  // Bounds what one build stores in R2 and sends to an agent, and what a gzip bomb may decompress to.
  DOCKIFY_MAX_CONTEXT_BYTES: whole("bytes", 8 * GIB, CONTEXT_PART_BYTES * R2_MAX_PARTS),
  // A part is held in memory until its digest matches: two or three in one isolate stay well under its 128 MB.
  DOCKIFY_MAX_PART_BYTES: whole("bytes", 16 * MIB, MAX_PART_BYTES_CAP, MIN_PART_BYTES),
  // A day: an interrupted upload can be resumed the next morning; R2 would drop unfinished uploads after 7.
  DOCKIFY_UPLOAD_EXPIRY_SECONDS: whole("seconds", 86_400, MAX_TIMER_SECONDS),
  // Keeps a tenant's listing short and its abandoned uploads few.
  DOCKIFY_TENANT_MAX_UPLOADS: whole("uploads", 10),
  // Long enough for a slow link's next packet, short enough that a stalled client does not hold a request for long.
  DOCKIFY_BODY_IDLE_SECONDS: whole("seconds", 30, MAX_TIMER_SECONDS),
  DOCKIFY_MIN_AGENT_VERSION: version,
  DOCKIFY_WEBHOOK_TIMEOUT_SECONDS: whole("seconds", 10, 60),
  DOCKIFY_WEBHOOK_RETRY_SECONDS: whole("seconds", 10, 3600),
  DOCKIFY_WEBHOOK_MAX_ATTEMPTS: whole("attempts", 8, 20),
  DOCKIFY_WEBHOOK_ALLOW_HTTP_LOOPBACK: flag,
  DOCKIFY_WEBHOOK_DOH_URL: url(DEFAULT_DOH_URL),
});

/** Parsed once per set of variables: a deployed Worker's vars do not change under a running isolate. */
const parsedFor = new WeakMap<object, Settings>();

/** The settings, or a SettingsError naming every variable that is wrong. */
export function settings(env: SettingsVars): Settings {
  const cached = parsedFor.get(env);
  if (cached) return cached;
  const picked = Object.fromEntries(Object.keys(settingsSchema.shape).map((key) => [key, env[key as keyof SettingsVars]]));
  const parsed = settingsSchema.safeParse(picked);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join(".")} ${issue.message}`);
    throw new SettingsError(String(parsed.error.issues[0]!.path[0]), problems.join("; "));
  }
  const vars = parsed.data;
  const result: Settings = {
    leaseMs: vars.DOCKIFY_LEASE_SECONDS * 1000,
    heartbeatMs: vars.DOCKIFY_HEARTBEAT_SECONDS * 1000,
    maxAttempts: vars.DOCKIFY_MAX_ATTEMPTS,
    maxRequestBytes: vars.DOCKIFY_MAX_REQUEST_BYTES,
    maxFiles: vars.DOCKIFY_MAX_FILES,
    maxDockerfileBytes: vars.DOCKIFY_MAX_DOCKERFILE_BYTES,
    maxContextEntries: vars.DOCKIFY_MAX_CONTEXT_ENTRIES,
    tenantMaxQueued: vars.DOCKIFY_TENANT_MAX_QUEUED,
    tenantMaxContextBytes: vars.DOCKIFY_TENANT_MAX_CONTEXT_BYTES,
    minAgentVersion: vars.DOCKIFY_MIN_AGENT_VERSION,
    webhookTimeoutMs: vars.DOCKIFY_WEBHOOK_TIMEOUT_SECONDS * 1000,
    webhookRetryMs: vars.DOCKIFY_WEBHOOK_RETRY_SECONDS * 1000,
    webhookMaxAttempts: vars.DOCKIFY_WEBHOOK_MAX_ATTEMPTS,
    webhookAllowHttpLoopback: vars.DOCKIFY_WEBHOOK_ALLOW_HTTP_LOOPBACK,
    webhookDohUrl: vars.DOCKIFY_WEBHOOK_DOH_URL,
    maxContextBytes: vars.DOCKIFY_MAX_CONTEXT_BYTES,
    maxPartBytes: vars.DOCKIFY_MAX_PART_BYTES,
    uploadExpiryMs: vars.DOCKIFY_UPLOAD_EXPIRY_SECONDS * 1000,
    tenantMaxUploads: vars.DOCKIFY_TENANT_MAX_UPLOADS,
    bodyIdleMs: vars.DOCKIFY_BODY_IDLE_SECONDS * 1000,
  };
  parsedFor.set(env, result);
  return result;
}
