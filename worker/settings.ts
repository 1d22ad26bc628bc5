/** The Worker's tunable settings, read from plain variables (no Workers types, so Node tests can use them). */

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
}

function positiveInt(value: string | undefined, fallback: number): number {
  const parsed = Number(value);
  return Number.isInteger(parsed) && parsed > 0 ? parsed : fallback;
}

export function settings(env: SettingsVars): Settings {
  return {
    leaseMs: positiveInt(env.DOCKIFY_LEASE_SECONDS, 30) * 1000,
    heartbeatMs: positiveInt(env.DOCKIFY_HEARTBEAT_SECONDS, 5) * 1000,
    maxAttempts: positiveInt(env.DOCKIFY_MAX_ATTEMPTS, 3),
    maxRequestBytes: positiveInt(env.DOCKIFY_MAX_REQUEST_BYTES, 32 * 1024 * 1024),
    maxFiles: positiveInt(env.DOCKIFY_MAX_FILES, 200),
    maxDockerfileBytes: positiveInt(env.DOCKIFY_MAX_DOCKERFILE_BYTES, 1024 * 1024),
    maxContextEntries: positiveInt(env.DOCKIFY_MAX_CONTEXT_ENTRIES, 10_000),
    tenantMaxQueued: positiveInt(env.DOCKIFY_TENANT_MAX_QUEUED, 100),
    tenantMaxContextBytes: positiveInt(env.DOCKIFY_TENANT_MAX_CONTEXT_BYTES, 1024 * 1024 * 1024),
  };
}

