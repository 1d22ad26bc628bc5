import { describe, expect, it } from "vitest";
import { agentVersionRefusal } from "./agent-version";

/** A WebSocket close reason holds at most 123 bytes of UTF-8. */
const MAX_CLOSE_REASON_BYTES = 123;

describe("agentVersionRefusal", () => {
  it("takes every version when no minimum is set", () => {
    for (const version of ["0.0.1", "x", ""]) expect(agentVersionRefusal(version, null)).toBeNull();
  });

  it("takes the minimum and anything newer", () => {
    for (const version of ["0.2.0", "0.2.1", "0.10.0", "1.0.0"]) expect(agentVersionRefusal(version, "0.2.0")).toBeNull();
  });

  it("refuses an older version, naming both", () => {
    expect(agentVersionRefusal("0.1.9", "0.2.0")).toBe('agent version "0.1.9" is older than 0.2.0, this Worker\'s minimum: upgrade the agent');
    // Semantic, not textual, order; and a pre-release comes before its release.
    expect(agentVersionRefusal("0.9.0", "0.10.0")).toContain("is older than 0.10.0");
    expect(agentVersionRefusal("0.2.0-rc.1", "0.2.0")).toContain("is older than 0.2.0");
  });

  it("refuses a version that is not one, since it cannot be shown to be new enough", () => {
    expect(agentVersionRefusal("test", "0.1.0")).toBe('agent version "test" is not a version; this Worker needs 0.1.0 or newer: upgrade the agent');
  });

  it("fits a close frame's reason whatever the agent reports", () => {
    const reason = agentVersionRefusal("9".repeat(50), "100000.100000.100000")!;
    expect(new TextEncoder().encode(reason).byteLength).toBeLessThanOrEqual(MAX_CLOSE_REASON_BYTES);
    const longer = agentVersionRefusal("0.0.1-" + "a".repeat(44), "100000.100000.100000")!;
    expect(new TextEncoder().encode(longer).byteLength).toBeLessThanOrEqual(MAX_CLOSE_REASON_BYTES);
  });
});
