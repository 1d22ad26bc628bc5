/**
 * Who builds for whom: pools, and labels reserved to agent tokens, read from
 * two Worker variables with one schema each.
 *
 * `DOCKIFY_POOLS` names pools: `{"<pool>": {"agents": [agent token names],
 * "tenants": [tenant names]}}`. Every pool is its own Durable Object. A tenant
 * builds only in its pool, and an agent joins only its token's pool, so a
 * tenant's builds reach exactly the agents of the tokens listed with it.
 * Tenants and agent tokens listed nowhere share the pool `default`.
 *
 * `DOCKIFY_AGENT_TOKEN_LABELS` grants labels to agent token names. A label key
 * granted to any token is reserved: an agent may declare it only if its token
 * grants it, with that value; and a build may ask for it only if a token of the
 * build's own pool is granted it, so a build cannot ask its way onto agents it
 * may not use, and never waits for an agent that could never come.
 *
 * A bad value answers 503 naming the variable (SettingsError), as settings.ts does.
 */
import { z } from "zod";
import { formatLabels, labelsSchema, type Labels } from "../shared/labels";
import { SettingsError } from "./settings";
import { TOKEN_NAME, tokenNames } from "./tokens";

export const POOLS_VARIABLE = "DOCKIFY_POOLS";
export const GRANTS_VARIABLE = "DOCKIFY_AGENT_TOKEN_LABELS";
/** Where every tenant and agent token not listed in DOCKIFY_POOLS belongs. */
export const DEFAULT_POOL = "default";

export interface FleetVars {
  DOCKIFY_POOLS?: string;
  DOCKIFY_AGENT_TOKEN_LABELS?: string;
  DOCKIFY_API_TOKENS?: string;
  DOCKIFY_AGENT_TOKENS?: string;
}

const name = (what: string) => z.string().regex(TOKEN_NAME, `${what} names are letters, digits, '_', '.', '-' (at most 64)`);

const poolSchema = z.strictObject({
  agents: z.array(name("agent token")).min(1, "must name at least one agent token: a pool without agents builds nothing"),
  tenants: z.array(name("tenant")).min(1, "must name at least one tenant: a pool nobody builds in is a mistake"),
});

const poolName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "pool names are lower-case letters, digits and '-' (at most 63)")
  .refine((pool) => pool !== DEFAULT_POOL, `'${DEFAULT_POOL}' is where everything unlisted goes: do not list it`);

const poolsSchema = z.record(poolName, poolSchema);
export type PoolsConfig = z.infer<typeof poolsSchema>;

const grantsSchema = z.record(z.string(), labelsSchema);
export type Grants = z.infer<typeof grantsSchema>;

/** The JSON of a variable, checked with `schema`; unset or empty is `{}`. */
export function parseJson<T>(variable: string, text: string | undefined, schema: z.ZodType<T>): T {
  if (text === undefined || text.trim() === "") return schema.parse({});
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new SettingsError(variable, `${variable} is not JSON`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      // A bad record key (a pool's or a label's name) carries the key's own problem inside.
      const message = issue.code === "invalid_key" ? (issue.issues[0]?.message ?? issue.message) : issue.message;
      return `${[variable, ...issue.path].join(".")} ${message}`;
    });
    throw new SettingsError(variable, problems.join("; "));
  }
  return parsed.data;
}

/**
 * Each tenant and agent token in at most one pool, and only names the token
 * lists give: a misspelt tenant would otherwise quietly share the default pool.
 */
function checkMembers(pools: PoolsConfig, vars: FleetVars): void {
  const problems: string[] = [];
  const known = { agents: tokenNames(vars.DOCKIFY_AGENT_TOKENS), tenants: tokenNames(vars.DOCKIFY_API_TOKENS) };
  const source = { agents: "DOCKIFY_AGENT_TOKENS", tenants: "DOCKIFY_API_TOKENS" };
  for (const kind of ["agents", "tenants"] as const) {
    const seen = new Map<string, string>();
    for (const [pool, members] of Object.entries(pools)) {
      for (const member of members[kind]) {
        const earlier = seen.get(member);
        if (earlier !== undefined) problems.push(`${POOLS_VARIABLE}: '${member}' is listed in pools '${earlier}' and '${pool}'; ${kind} belong to one pool`);
        seen.set(member, pool);
        if (!known[kind].has(member)) problems.push(`${POOLS_VARIABLE}.${pool}.${kind}: '${member}' is not a name in ${source[kind]} (name=token)`);
      }
    }
  }
  if (problems.length > 0) throw new SettingsError(POOLS_VARIABLE, problems.join("; "));
}

export class Fleet {
  readonly #pools: PoolsConfig;
  readonly #grants: Grants;
  readonly #poolOfTenant = new Map<string, string>();
  readonly #poolOfAgent = new Map<string, string>();
  /** Label keys granted to any token: only tokens granted them may offer them. */
  readonly #reserved: Set<string>;

  constructor(pools: PoolsConfig, grants: Grants) {
    this.#pools = pools;
    this.#grants = grants;
    for (const [pool, { agents, tenants }] of Object.entries(pools)) {
      for (const agent of agents) this.#poolOfAgent.set(agent, pool);
      for (const tenant of tenants) this.#poolOfTenant.set(tenant, pool);
    }
    this.#reserved = new Set(Object.values(grants).flatMap((granted) => Object.keys(granted)));
  }

  /** Every pool, the default one included. */
  get pools(): string[] {
    return [DEFAULT_POOL, ...Object.keys(this.#pools)];
  }

  /** The one pool a tenant's builds go to, and are found in. */
  tenantPool(tenant: string): string {
    return this.#poolOfTenant.get(tenant) ?? DEFAULT_POOL;
  }

  /** The pool an agent with this token joins. */
  agentPool(tokenName: string): string {
    return this.#poolOfAgent.get(tokenName) ?? DEFAULT_POOL;
  }

  /** Why an agent with this token may not declare these labels, or null. */
  forbiddenAgentLabel(labels: Labels, tokenName: string): string | null {
    const granted = this.#grants[tokenName] ?? {};
    for (const [key, value] of Object.entries(labels)) {
      if (this.#reserved.has(key) && granted[key] !== value) return `label ${key}=${value} is not granted to agent token '${tokenName}'`;
    }
    return null;
  }

  /**
   * Why a build of this tenant may not ask for these labels, or null: a
   * reserved label must be granted to an agent token of the tenant's own pool.
   * The answer says what the tenant may ask for instead.
   */
  refusedBuildLabel(tenant: string, labels: Labels): string | null {
    const pool = this.tenantPool(tenant);
    const offered = this.#grantedIn(pool);
    for (const [key, value] of Object.entries(labels)) {
      if (!this.#reserved.has(key) || offered.some((granted) => granted[key] === value)) continue;
      const mayAsk = [...new Set(offered.flatMap((granted) => formatLabels(granted).split(",")).filter(Boolean))].sort();
      const reserved = [...this.#reserved].sort().join(", ");
      return (
        `label ${key}=${value} is reserved to build agents outside your pool '${pool}'; ` +
        (mayAsk.length > 0 ? `of the reserved labels you may ask for ${mayAsk.join(", ")}; ` : "you may ask for no reserved label; ") +
        `any label whose name is not reserved (${reserved}) is yours to use`
      );
    }
    return null;
  }

  /** The labels granted to each agent token of a pool: the reserved labels its agents can offer. */
  #grantedIn(pool: string): Labels[] {
    return Object.entries(this.#grants)
      .filter(([tokenName]) => this.agentPool(tokenName) === pool)
      .map(([, granted]) => granted);
  }
}

/** Parsed once per set of variables: a deployed Worker's vars do not change under a running isolate. */
const parsedFor = new WeakMap<object, Fleet>();

/** The fleet, or a SettingsError naming the variable that is wrong. */
export function fleet(vars: FleetVars): Fleet {
  const cached = parsedFor.get(vars);
  if (cached) return cached;
  const grants = parseJson(GRANTS_VARIABLE, vars.DOCKIFY_AGENT_TOKEN_LABELS, grantsSchema);
  const pools = parseJson(POOLS_VARIABLE, vars.DOCKIFY_POOLS, poolsSchema);
  checkMembers(pools, vars);
  const result = new Fleet(pools, grants);
  parsedFor.set(vars, result);
  return result;
}
