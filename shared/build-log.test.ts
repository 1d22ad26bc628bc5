import { describe, expect, it } from "vitest";
import { agentEvent, mapEntryText, renderEvent, type BuildEvent } from "./build-log";

/** The exact text users read in their logs: pinned here, so a slip in the wording shows up as a failure. */
const RENDERED: [BuildEvent, string][] = [
  [
    { type: "limits", network: "none", memoryBytes: null, cpus: 1.5, timeLimitSeconds: 60 },
    "[dockify] RUN steps get network none, no memory limit, 1.5 CPUs; time limit 60 s",
  ],
  [
    { type: "limits", network: null, memoryBytes: 512 * 1024 * 1024, cpus: null, timeLimitSeconds: 3600 },
    "[dockify] RUN steps get network default (bridge), memory 512 MiB, no CPU limit; time limit 3600 s",
  ],
  [
    { type: "limits", network: null, memoryBytes: null, cpus: null, timeLimitSeconds: 60, builder: "buildkit" },
    "[dockify] RUN steps (BuildKit) get network default (bridge), no memory limit, no CPU limit; time limit 60 s",
  ],
  [
    { type: "limits", network: "none", memoryBytes: null, cpus: 2, timeLimitSeconds: 60, builder: "classic" },
    "[dockify] RUN steps (classic builder) get network none, no memory limit, 2 CPUs; time limit 60 s",
  ],
  [{ type: "downloading-context" }, "[dockify] downloading the build context"],
  [
    { type: "image-allowed", reference: "127.0.0.1:5000/base:1" },
    "[dockify] 127.0.0.1:5000/base:1: this build's credentials may pull it (checked at its registry)",
  ],
  [{ type: "cache-reused", reused: 3, steps: 4 }, "[dockify] 3 of 4 step(s) reused from the cache"],
  [
    { type: "secrets-uncached" },
    "[dockify] the Dockerfile mounts a build secret: built without the cache, so no other build can reuse a step that read a secret",
  ],
  [
    { type: "engine-failed", error: "no active session for abc" },
    "[dockify] the Docker Engine failed, not the build: no active session for abc; this attempt goes back to the pool to run again",
  ],
  [{ type: "pushing", reference: "127.0.0.1:5000/alice/web:v1" }, "[dockify] pushing 127.0.0.1:5000/alice/web:v1"],
  [
    { type: "pushed", reference: "alice/web:v1", digest: `sha256:${"a".repeat(64)}` },
    `[dockify] pushed alice/web:v1@sha256:${"a".repeat(64)}`,
  ],
  [{ type: "failed", step: "push", error: "denied: requested access to the resource is denied" }, "[dockify] push failed: denied: requested access to the resource is denied"],
  [{ type: "canceled" }, "[dockify] canceled"],
  [
    { type: "lines-dropped", count: 7 },
    "[dockify] 7 log line(s) dropped here: the agent was disconnected from the pool and its send queue was full",
  ],
  [{ type: "assigned", attempt: 2, agent: "crash-b" }, "[dockify] attempt 2: assigned to agent crash-b"],
  [
    { type: "assigned", attempt: 1, agent: "b-1", placement: { reason: "warm-cache" } },
    "[dockify] attempt 1: assigned to agent b-1, which built this repository last (its build cache is warm)",
  ],
  [
    { type: "assigned", attempt: 1, agent: "b-2", placement: { reason: "least-busy", lastAgent: null } },
    "[dockify] attempt 1: assigned to agent b-2, the least busy (no agent of this pool has built this repository yet)",
  ],
  [
    { type: "assigned", attempt: 1, agent: "b-2", placement: { reason: "least-busy", lastAgent: { name: "b-1", state: "busy" } } },
    "[dockify] attempt 1: assigned to agent b-2, the least busy: agent b-1, which built this repository last, has no free slot",
  ],
  [
    { type: "refused", attempt: 1, reason: "the agent is shutting down" },
    "[dockify] attempt 1: the agent did not take it (the agent is shutting down); queued again",
  ],
  [{ type: "lease-expired", attempt: 1 }, "[dockify] attempt 1: the agent stopped responding; the job is queued again"],
  [{ type: "withheld", reason: "the key changed" }, "[dockify] withheld: the key changed"],
  [
    { type: "lines-not-kept", count: 12, maxLines: 20_000, maxBytes: 4 * 1024 * 1024 },
    "[dockify] 12 more log line(s) not kept: a build log keeps at most 20000 lines and 4 MiB",
  ],
];

describe("Dockify's log events", () => {
  it.each(RENDERED)("renders %j as the line users read", (event, line) => {
    expect(renderEvent(event)).toBe(line);
  });

  it("redacts only free text: a secret that spells part of a step name leaves the event valid", () => {
    const redact = (text: string) => text.split("us").join("***");
    const entry = mapEntryText({ event: { type: "failed", step: "push", error: "push refused for us" } }, redact);
    expect(entry).toEqual({ event: { type: "failed", step: "push", error: "p***h ref***ed for ***" } });
    expect(agentEvent.safeParse(entry.event).success).toBe(true);
  });
});
