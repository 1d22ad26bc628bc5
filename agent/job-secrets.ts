/**
 * The secrets of one job, redacted from everything that leaves the agent about
 * it: log lines and error texts alike. Registry passwords (every login of the
 * job), build secrets and the tokens must never reach the pool's log store or
 * a user's screen.
 */
import type { Assignment } from "../shared/protocol";
import { redactor } from "../shared/redact";

export type Redact = (text: string) => string;

export function jobRedactor(assignment: Assignment, agentToken: string): Redact {
  // Also their encoded forms: registries echo URLs back in errors, and a build may print a secret in base64.
  return redactor([
    assignment.auth?.password,
    ...assignment.logins.map((login) => login.password),
    ...assignment.secrets.map((secret) => secret.value),
    agentToken,
    assignment.leaseToken,
  ]);
}
