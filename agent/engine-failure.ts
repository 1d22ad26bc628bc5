/**
 * Failures of the Docker Engine itself, as opposed to a Dockerfile's or a
 * registry's. Building again (on this Engine later, or on another agent) can
 * succeed, so the agent gives such an attempt back to the pool rather than
 * reporting the user's build as failed.
 *
 * Only what the build cannot say for itself counts: the connection to the
 * daemon refused, reset or broken (Node's errno codes), the daemon answering
 * 5xx before the build's stream starts (but not Engine 20.10's 500 for a
 * context it cannot unpack: classic.ts), and conditions the agent recognises
 * where they happen and raises as EngineFailure (BuildKit dropping the
 * build's session: session.ts; the image a build made gone before its push:
 * publish.ts). Never the text of an error: a failed step's message holds the
 * step's command and the build's output, which the user writes, and a
 * `RUN echo "socket hang up" && exit 1` must fail as the build it is, not
 * run again up to DOCKIFY_MAX_ATTEMPTS times with the blame on the host.
 */

/** Node's codes for a connection to the daemon that failed or broke. */
const CONNECTION_CODES: ReadonlySet<string> = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ENOENT", "ETIMEDOUT", "EHOSTUNREACH", "ECONNABORTED"]);
const HTTP_SERVER_ERROR = 500;

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
  if (status !== undefined && status >= HTTP_SERVER_ERROR) return true;
  const code = errnoCode(error);
  return code !== undefined && CONNECTION_CODES.has(code);
}
