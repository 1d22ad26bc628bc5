/** Per-tenant limits: how many builds may wait, how many uploads may be open, and how many context bytes may be stored, at once. */
import type { Settings } from "../settings";
import type { TenantUsage } from "./records";

/** Why storing `bytes` more for the tenant would pass its byte limit, or null. */
export function overByteLimit(usage: TenantUsage, bytes: number, what: string, limits: Settings): string | null {
  if (usage.contextBytes + bytes <= limits.tenantMaxContextBytes) return null;
  return (
    `${what} (${bytes} bytes) with what you already store, unfinished builds' contexts and uploads (${usage.contextBytes} bytes), ` +
    `would pass your limit of ${limits.tenantMaxContextBytes} bytes (DOCKIFY_TENANT_MAX_CONTEXT_BYTES): wait for builds to end, or delete uploads`
  );
}

/** Why one more build of `contextBytes` would break the tenant's limits, or null. */
export function overLimit(usage: TenantUsage, contextBytes: number, limits: Settings): string | null {
  if (usage.queued >= limits.tenantMaxQueued) {
    return `you already have ${usage.queued} queued builds, the most allowed (DOCKIFY_TENANT_MAX_QUEUED): wait for some to start, or cancel some`;
  }
  return overByteLimit(usage, contextBytes, "this build's context", limits);
}

/** Why one more chunked upload would be too many, or null. */
export function tooManyUploads(open: number, limits: Settings): string | null {
  if (open < limits.tenantMaxUploads) return null;
  return `you already have ${open} uploads, the most allowed (DOCKIFY_TENANT_MAX_UPLOADS): build from them, or delete some`;
}
