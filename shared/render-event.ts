/**
 * Dockify's own log events as text: `renderEvent` is the one place that turns
 * an event (build-log.ts) into a `[dockify] …` line. Kept free of zod, so the
 * dashboard shows a log's events as the plain log does without bundling the
 * schemas.
 */
import type { BuilderName, BuildEvent, LastAgentState, LogEntry, Placement } from "./build-log";
import { formatByteSize } from "./byte-size";

const BUILDER_NAMES: Record<BuilderName, string> = { buildkit: "BuildKit", classic: "classic builder" };

const LAST_AGENT_STATES: Record<LastAgentState, string> = {
  busy: "has no free slot",
  paused: "is paused",
  draining: "is shutting down",
  unable: "cannot build it now",
  disconnected: "is not connected",
};

/** Why the pool chose the agent, after its name. */
function describePlacement(placement: Placement | undefined): string {
  if (!placement) return "";
  if (placement.reason === "warm-cache") return ", which built this repository last (its build cache is warm)";
  if (!placement.lastAgent) return ", the least busy (no agent of this pool has built this repository yet)";
  const { name, state } = placement.lastAgent;
  return `, the least busy: agent ${name}, which built this repository last, ${LAST_AGENT_STATES[state]}`;
}

/** Marks Dockify's own lines in the text of a log. */
export const EVENT_PREFIX = "[dockify]";

function describe(event: BuildEvent): string {
  switch (event.type) {
    case "limits": {
      const memory = event.memoryBytes === null ? "no memory limit" : `memory ${formatByteSize(event.memoryBytes)}`;
      const cpu = event.cpus === null ? "no CPU limit" : `${event.cpus} CPUs`;
      const network = event.network ?? "default (bridge)";
      const builder = event.builder ? ` (${BUILDER_NAMES[event.builder]})` : "";
      return `RUN steps${builder} get network ${network}, ${memory}, ${cpu}; time limit ${event.timeLimitSeconds} s`;
    }
    case "image-allowed":
      return `${event.reference}: this build's credentials may pull it (checked at its registry)`;
    case "cache-reused":
      return `${event.reused} of ${event.steps} step(s) reused from the cache`;
    case "secrets-uncached":
      return "the Dockerfile mounts a build secret: built without the cache, so no other build can reuse a step that read a secret";
    case "engine-failed":
      return `the Docker Engine failed, not the build: ${event.error}; this attempt goes back to the pool to run again`;
    case "downloading-context":
      return "downloading the build context";
    case "pushing":
      return `pushing ${event.reference}`;
    case "pushed":
      return `pushed ${event.reference}@${event.digest}`;
    case "failed":
      return `${event.step} failed: ${event.error}`;
    case "canceled":
      return "canceled";
    case "lines-dropped":
      return `${event.count} log line(s) dropped here: the agent was disconnected from the pool and its send queue was full`;
    case "lines-skipped":
      return `${event.count} log line(s) skipped here: the build printed faster than a build log is sent (at most ${event.maxLinesPerSecond} lines a second)`;
    case "assigned":
      return `attempt ${event.attempt}: assigned to agent ${event.agent}${describePlacement(event.placement)}`;
    case "refused":
      return `attempt ${event.attempt}: the agent did not take it (${event.reason}); queued again`;
    case "lease-expired":
      return `attempt ${event.attempt}: the agent stopped responding; the job is queued again`;
    case "withheld":
      return `withheld: ${event.reason}`;
    case "lines-not-kept":
      return (
        `${event.count} more log line(s) not kept: ` +
        `a build log keeps at most ${event.maxLines} lines and ${formatByteSize(event.maxBytes)}`
      );
  }
}

/** The event as a line of the log's text (no newline). */
export function renderEvent(event: BuildEvent): string {
  return `${EVENT_PREFIX} ${describe(event)}`;
}

/** A log entry as a line of text (no newline). */
export function renderEntry(entry: LogEntry): string {
  return typeof entry === "string" ? entry : renderEvent(entry.event);
}
