/** What agents call: the WebSocket to the pool, and the context of a job they hold. */
import { Hono } from "hono";
import { LEASE_HEADER } from "../../shared/protocol";
import { requireAgentToken } from "../auth";
import { openContext } from "../context/store";
import type { AppEnv } from "../env";
import { ApiError } from "../errors";
import { parseGrants } from "../pool/grants";
import { AGENT_TOKEN_NAME_HEADER } from "../pool/sockets";
import { poolStub } from "../pool/stub";

export const agentRoutes = new Hono<AppEnv>();

agentRoutes.use(requireAgentToken);

agentRoutes.get("/connect", (c) => {
  // A broken grants setting refuses agents here, with a 503 that says why, rather than inside the pool.
  parseGrants(c.env.DOCKIFY_AGENT_TOKEN_LABELS);
  const upgrade = new Request(c.req.raw);
  upgrade.headers.set(AGENT_TOKEN_NAME_HEADER, c.get("agentTokenName"));
  return poolStub(c.env).fetch(upgrade);
});

agentRoutes.get("/jobs/:id/context", async (c) => {
  const id = c.req.param("id");
  const leaseToken = c.req.header(LEASE_HEADER) ?? "";
  if (!(await poolStub(c.env).mayFetchContext(id, leaseToken))) {
    throw new ApiError(403, `job '${id}' is not leased to you: send the lease token of its current assignment`, LEASE_HEADER);
  }
  const context = await openContext(c.env.BUCKET, id);
  if (!context) throw new ApiError(404, `the context of job '${id}' is gone`, "id");
  return new Response(context.body, {
    headers: { "Content-Type": "application/x-tar", "Content-Length": String(context.size) },
  });
});
