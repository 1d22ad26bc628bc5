/** What the pool tells the API about a job: everything but its secrets and lease. */
import type { Waiting } from "./matching";
import type { JobRecord } from "./store";

export type PublicJob = Omit<JobRecord, "sealedPassword" | "leaseHash" | "agentId" | "leaseExpiresAt"> & {
  /** Why a queued job has not started; null once it has. */
  waiting: Waiting | null;
};

export function publicJob(job: JobRecord, waiting: Waiting | null): PublicJob {
  const { sealedPassword: _sealed, leaseHash: _hash, agentId: _agent, leaseExpiresAt: _expiry, ...visible } = job;
  return { ...visible, waiting };
}
