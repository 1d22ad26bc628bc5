/** What the pool tells the API about a job: everything but its secrets and lease. */
import type { JobRecord } from "./store";

export type PublicJob = Omit<JobRecord, "sealedPassword" | "leaseHash" | "agentId" | "leaseExpiresAt">;

export function publicJob(job: JobRecord): PublicJob {
  const { sealedPassword: _sealed, leaseHash: _hash, agentId: _agent, leaseExpiresAt: _expiry, ...visible } = job;
  return visible;
}
