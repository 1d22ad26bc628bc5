/** Bindings, variables and secrets of the Worker, typed. */
import type { Pool } from "./pool/pool";

export interface Env {
  BUCKET: R2Bucket;
  POOL: DurableObjectNamespace<Pool>;
  /** `name=token` pairs, comma-separated; a token may be written `sha256:<hex>`. The name is the tenant. */
  DOCKIFY_API_TOKENS?: string;
  /** Comma-separated agent tokens (plain or `sha256:<hex>`). */
  DOCKIFY_AGENT_TOKENS?: string;
  /** At least 32 characters; registry passwords are sealed with a key derived from it. */
  DOCKIFY_SECRET_KEY?: string;
  DOCKIFY_LEASE_SECONDS?: string;
  DOCKIFY_HEARTBEAT_SECONDS?: string;
  DOCKIFY_MAX_ATTEMPTS?: string;
  DOCKIFY_MAX_REQUEST_BYTES?: string;
  DOCKIFY_MAX_FILES?: string;
  DOCKIFY_MAX_DOCKERFILE_BYTES?: string;
}

export interface Settings {
  leaseMs: number;
  heartbeatMs: number;
  maxAttempts: number;
  maxRequestBytes: number;
  maxFiles: number;
  maxDockerfileBytes: number;
}

function positiveInt(value: string | undefined, fallback: number): number {
  const parsed = Number(value);
  return Number.isInteger(parsed) && parsed > 0 ? parsed : fallback;
}

export function settings(env: Env): Settings {
  return {
    leaseMs: positiveInt(env.DOCKIFY_LEASE_SECONDS, 30) * 1000,
    heartbeatMs: positiveInt(env.DOCKIFY_HEARTBEAT_SECONDS, 5) * 1000,
    maxAttempts: positiveInt(env.DOCKIFY_MAX_ATTEMPTS, 3),
    maxRequestBytes: positiveInt(env.DOCKIFY_MAX_REQUEST_BYTES, 32 * 1024 * 1024),
    maxFiles: positiveInt(env.DOCKIFY_MAX_FILES, 200),
    maxDockerfileBytes: positiveInt(env.DOCKIFY_MAX_DOCKERFILE_BYTES, 1024 * 1024),
  };
}

/** Variables the Hono handlers set for later ones. */
export interface AppVariables {
  tenant: string;
}

export type AppEnv = { Bindings: Env; Variables: AppVariables };
