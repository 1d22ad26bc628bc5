/** The pool a request belongs to. One pool for now; pools scale out as separate objects. */
import type { Env } from "../env";

export const DEFAULT_POOL = "default";

export function poolStub(env: Env) {
  return env.POOL.get(env.POOL.idFromName(DEFAULT_POOL));
}
