/**
 * Which agent versions the Worker takes: every one, or (DOCKIFY_MIN_AGENT_VERSION)
 * none older than a minimum, so an operator can retire agents that lack
 * something the pool now relies on. The pool refuses such an agent's hello
 * (close code CLOSE.outdatedAgent) and `GET /agent/ping` answers 426, both with
 * the sentence below.
 */
import lt from "semver/functions/lt";
import valid from "semver/functions/valid";

/** Close reasons are at most 123 bytes: the version an agent reports is cut to this much in the sentence. */
const MAX_QUOTED_VERSION_CHARS = 20;

/** Why an agent reporting `version` is refused under `minimum`, or null when it is taken. */
export function agentVersionRefusal(version: string, minimum: string | null): string | null {
  if (minimum === null) return null;
  // ASCII only, so the sentence's length in bytes is bounded too.
  const quoted = JSON.stringify(version.slice(0, MAX_QUOTED_VERSION_CHARS).replace(/[^\x20-\x7e]/g, "?"));
  // Every released agent reports its package version; anything else cannot be shown to be new enough.
  if (valid(version) === null) return `agent version ${quoted} is not a version; this Worker needs ${minimum} or newer: upgrade the agent`;
  if (lt(version, minimum)) return `agent version ${quoted} is older than ${minimum}, this Worker's minimum: upgrade the agent`;
  return null;
}
