/**
 * The secrets of one job, redacted from everything that leaves the agent about
 * it: log lines and error texts alike. The registry password and the tokens
 * must never reach the pool's log store or a user's screen.
 */
import type { Assignment } from "../shared/protocol";
import { redact } from "../shared/redact";

export type Redact = (text: string) => string;

export function jobRedactor(assignment: Assignment, agentToken: string): Redact {
  const secrets = [assignment.auth?.password, agentToken, assignment.leaseToken]
    .filter((secret): secret is string => Boolean(secret))
    // Registries and daemons echo URLs back in errors, where a secret appears percent-encoded.
    .flatMap((secret) => [secret, encodeURIComponent(secret)]);
  return (text) => redact(text, secrets);
}
