/**
 * Failures of the Docker Engine itself, as opposed to a Dockerfile's or a
 * registry's: the daemon answering 5xx, its connection refused or reset, a
 * BuildKit session it dropped, an image removed from under a running build.
 * Building again (on this Engine later, or on another agent) can succeed, so
 * the agent gives such an attempt back to the pool rather than reporting the
 * user's build as failed.
 */
import { describeError } from "./errors";

/** Node's codes for a connection to the daemon that failed or broke. */
const CONNECTION_CODES: ReadonlySet<string> = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ENOENT", "ETIMEDOUT", "EHOSTUNREACH", "ECONNABORTED"]);

/** What the daemon says when the trouble is its own. */
const ENGINE_MESSAGES = [
  // BuildKit lost the build's session (the daemon's side of it, or ours under load).
  /no active session for/i,
  // An image the build was using vanished: something else on the Engine removed it mid-build.
  /(?:unable to find|no such) image:? sha256:[0-9a-f]+/i,
  /socket hang up/i,
  /connection reset by peer/i,
  /Cannot connect to the Docker daemon/i,
];

/** The HTTP status dockerode attaches to a daemon's answer. */
function statusCode(error: unknown): number | undefined {
  const code = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === "number" ? code : undefined;
}

function errnoCode(error: unknown): string | undefined {
  for (let cause: unknown = error; cause instanceof Error; cause = cause.cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}

/** An error raised by the Engine's own trouble, marked as such where it was recognised. */
export class EngineFailure extends Error {}

/** True when `error` says the Engine failed, not the build. */
export function isEngineFailure(error: unknown): boolean {
  if (error instanceof EngineFailure) return true;
  const status = statusCode(error);
  if (status !== undefined && status >= 500) return true;
  const code = errnoCode(error);
  if (code && CONNECTION_CODES.has(code)) return true;
  const message = describeError(error);
  return ENGINE_MESSAGES.some((pattern) => pattern.test(message));
}
