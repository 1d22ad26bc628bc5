/** Lease tokens: handed to the agent in its assignment, kept here only as a hash. */
import { createHash, randomBytes } from "node:crypto";

export function newLeaseToken(): string {
  return randomBytes(32).toString("hex");
}

// Synchronous on purpose: hashing inside the dispatch loop must not yield to other events mid-transition.
export function leaseHash(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}
