/**
 * The Worker's tunable settings, read from its plain variables with one
 * schema. A bad value is not quietly replaced by the default: the Worker
 * answers 503 naming every variable that is wrong (SettingsError), as it does
 * for a missing secret key. No Workers types here, so Node code can use it.
 */
import valid from "semver/functions/valid";
import { z } from "zod";
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

const settingsSchema = z.object({
  DOCKIFY_LEASE_SECONDS: whole("seconds", 30, MAX_TIMER_SECONDS),
  DOCKIFY_HEARTBEAT_SECONDS: whole("seconds", 5, MAX_TIMER_SECONDS),
  DOCKIFY_MAX_ATTEMPTS: whole("attempts", 3),
  DOCKIFY_MAX_REQUEST_BYTES: whole("bytes", 32 * MIB),
  DOCKIFY_MAX_FILES: whole("files", 200),
  DOCKIFY_MAX_DOCKERFILE_BYTES: whole("bytes", MIB),
  DOCKIFY_MAX_CONTEXT_ENTRIES: whole("entries", 10_000),
  DOCKIFY_TENANT_MAX_QUEUED: whole("builds", 100),
  DOCKIFY_TENANT_MAX_CONTEXT_BYTES: whole("bytes", 1024 * MIB),
  DOCKIFY_MIN_AGENT_VERSION: version,
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
  };
  parsedFor.set(env, result);
  return result;
}
