/** Per-tenant limits: how many builds may wait, and how many context bytes may be stored, at once. */
import type { Settings } from "../settings";
import type { TenantUsage } from "./records";

/** Why one more build of `contextBytes` would break the tenant's limits, or null. */
export function overLimit(usage: TenantUsage, contextBytes: number, limits: Settings): string | null {
  if (usage.queued >= limits.tenantMaxQueued) {
    return `you already have ${usage.queued} queued builds, the most allowed (DOCKIFY_TENANT_MAX_QUEUED): wait for some to start, or cancel some`;
  }
  if (usage.contextBytes + contextBytes > limits.tenantMaxContextBytes) {
    return (
      `this build's context (${contextBytes} bytes) with your unfinished builds' (${usage.contextBytes} bytes) ` +
      `would pass your limit of ${limits.tenantMaxContextBytes} bytes (DOCKIFY_TENANT_MAX_CONTEXT_BYTES)`
    );
  }
  return null;
}
