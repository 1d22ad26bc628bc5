/**
 * The pool Durable Object a request belongs to. Each pool is its own object
 * (`idFromName(pool)`), so one pool's load never touches another's: a tenant's
 * requests go to its pool, an agent's to its token's pool (fleet.ts).
 *
 * A build is always in its tenant's pool, so a build id needs no pool in it:
 * looked up in the asking tenant's pool, another tenant's build is as unknown as
 * a made-up id.
 */
import type { Env } from "../env";
import { DEFAULT_POOL, fleet } from "../fleet";

export { DEFAULT_POOL };

/** The object of a pool named in the configuration (or `default`). */
export function poolStub(env: Env, pool: string) {
  return env.POOL.get(env.POOL.idFromName(pool));
}

/** The pool where this tenant's builds go and are found. */
export function tenantPoolStub(env: Env, tenant: string) {
  return poolStub(env, fleet(env).tenantPool(tenant));
}

/** The pool an agent with this token joins. */
export function agentPoolStub(env: Env, tokenName: string) {
  return poolStub(env, fleet(env).agentPool(tokenName));
}

export type PoolStub = ReturnType<typeof poolStub>;
