import { describe, expect, it } from "vitest";
import { DEFAULT_POOL, fleet, type FleetVars } from "./fleet";
import { SettingsError } from "./settings";

const TOKENS = {
  DOCKIFY_API_TOKENS: "alice=a-token,bob=b-token,carol=c-token",
  DOCKIFY_AGENT_TOKENS: "alice-fleet=af-token,gpu=g-token,shared-token",
};

function vars(pools: unknown, grants: unknown = {}): FleetVars {
  return { ...TOKENS, DOCKIFY_POOLS: JSON.stringify(pools), DOCKIFY_AGENT_TOKEN_LABELS: JSON.stringify(grants) };
}

function refusal(read: () => unknown): SettingsError {
  try {
    read();
  } catch (error) {
    if (error instanceof SettingsError) return error;
    throw error;
  }
  throw new Error("no SettingsError");
}

describe("fleet configuration", () => {
  it("puts listed tenants and agent tokens in their pool and everything else in default", () => {
    const config = fleet(vars({ alice: { agents: ["alice-fleet"], tenants: ["alice"] } }));
    expect(config.pools).toEqual([DEFAULT_POOL, "alice"]);
    expect(config.tenantPool("alice")).toBe("alice");
    expect(config.agentPool("alice-fleet")).toBe("alice");
    expect(config.tenantPool("bob")).toBe(DEFAULT_POOL);
    expect(config.agentPool("gpu")).toBe(DEFAULT_POOL);
    expect(config.agentPool("token-1234abcd")).toBe(DEFAULT_POOL);
  });

  it("is one default pool when DOCKIFY_POOLS is unset or empty", () => {
    for (const DOCKIFY_POOLS of [undefined, "", "  ", "{}"]) {
      const config = fleet({ ...TOKENS, DOCKIFY_POOLS });
      expect(config.pools).toEqual([DEFAULT_POOL]);
      expect(config.tenantPool("alice")).toBe(DEFAULT_POOL);
    }
  });

  it("refuses what is not JSON, naming the variable", () => {
    const error = refusal(() => fleet({ ...TOKENS, DOCKIFY_POOLS: "{alice:" }));
    expect(error.variable).toBe("DOCKIFY_POOLS");
    expect(error.message).toBe("DOCKIFY_POOLS is not JSON");
    expect(refusal(() => fleet({ ...TOKENS, DOCKIFY_AGENT_TOKEN_LABELS: "nope" })).variable).toBe("DOCKIFY_AGENT_TOKEN_LABELS");
  });

  it("refuses bad shapes and names, saying where", () => {
    const cases: [unknown, RegExp][] = [
      [{ Alice: { agents: ["alice-fleet"], tenants: ["alice"] } }, /DOCKIFY_POOLS\.Alice pool names are lower-case/],
      [{ default: { agents: ["alice-fleet"], tenants: ["alice"] } }, /'default' is where everything unlisted goes/],
      [{ alice: { agents: [], tenants: ["alice"] } }, /DOCKIFY_POOLS\.alice\.agents must name at least one agent token/],
      [{ alice: { agents: ["alice-fleet"] } }, /DOCKIFY_POOLS\.alice\.tenants/],
      [{ alice: { agents: ["alice-fleet"], tenants: ["alice"], extra: 1 } }, /extra/],
      [{ alice: { agents: ["alice fleet"], tenants: ["alice"] } }, /agent token names are letters/],
      [["alice"], /DOCKIFY_POOLS/],
    ];
    for (const [pools, message] of cases) {
      const error = refusal(() => fleet(vars(pools)));
      expect(error.variable).toBe("DOCKIFY_POOLS");
      expect(error.message).toMatch(message);
    }
  });

  it("refuses a tenant or agent token in two pools, and names no token list gives (a typo would share the default pool)", () => {
    const twice = refusal(() =>
      fleet(vars({ a: { agents: ["alice-fleet"], tenants: ["alice"] }, b: { agents: ["alice-fleet"], tenants: ["alice"] } })),
    );
    expect(twice.message).toContain("'alice-fleet' is listed in pools 'a' and 'b'; agents belong to one pool");
    expect(twice.message).toContain("'alice' is listed in pools 'a' and 'b'; tenants belong to one pool");
    const typo = refusal(() => fleet(vars({ alice: { agents: ["alice-flet"], tenants: ["alcie"] } })));
    expect(typo.message).toContain("DOCKIFY_POOLS.alice.agents: 'alice-flet' is not a name in DOCKIFY_AGENT_TOKENS (name=token)");
    expect(typo.message).toContain("DOCKIFY_POOLS.alice.tenants: 'alcie' is not a name in DOCKIFY_API_TOKENS (name=token)");
  });

  it("keeps labels reserved to agent tokens: an agent declares a reserved label only with its token's grant", () => {
    const config = fleet(vars({}, { gpu: { gpu: "true" } }));
    expect(config.forbiddenAgentLabel({ gpu: "true" }, "gpu")).toBeNull();
    expect(config.forbiddenAgentLabel({ gpu: "true" }, "shared")).toBe("label gpu=true is not granted to agent token 'shared'");
    expect(config.forbiddenAgentLabel({ gpu: "false" }, "gpu")).toBe("label gpu=false is not granted to agent token 'gpu'");
    expect(config.forbiddenAgentLabel({ arch: "arm64" }, "shared")).toBeNull();
  });

  it("lets a build ask for a reserved label only when its own pool has an agent token granted it, and says what it may ask for", () => {
    const config = fleet(
      vars({ alice: { agents: ["alice-fleet"], tenants: ["alice"] } }, { "alice-fleet": { tenant: "alice" }, gpu: { gpu: "true" } }),
    );
    expect(config.refusedBuildLabel("alice", { tenant: "alice", arch: "arm64" })).toBeNull();
    expect(config.refusedBuildLabel("bob", { gpu: "true", arch: "arm64" })).toBeNull();
    expect(config.refusedBuildLabel("bob", { tenant: "alice" })).toBe(
      "label tenant=alice is reserved to build agents outside your pool 'default'; " +
        "of the reserved labels you may ask for gpu=true; any label whose name is not reserved (gpu, tenant) is yours to use",
    );
    expect(config.refusedBuildLabel("alice", { gpu: "true" })).toBe(
      "label gpu=true is reserved to build agents outside your pool 'alice'; " +
        "of the reserved labels you may ask for tenant=alice; any label whose name is not reserved (gpu, tenant) is yours to use",
    );
    // No agent anywhere could offer it: refused rather than left waiting for ever.
    expect(config.refusedBuildLabel("bob", { gpu: "false" })).toMatch(/^label gpu=false is reserved/);
  });

  it("without pools, refuses no granted label to any tenant, as before", () => {
    const config = fleet(vars({}, { "alice-fleet": { tenant: "alice" } }));
    expect(config.refusedBuildLabel("bob", { tenant: "alice" })).toBeNull();
  });
});
