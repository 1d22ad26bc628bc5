/** What agents call: the WebSocket to the pool, and the context of a job they hold. */
import { Hono } from "hono";
import { LEASE_HEADER } from "../../shared/protocol";
import { requireAgentToken } from "../auth";
import { openContext } from "../context/store";
import type { AppEnv } from "../env";
import { ApiError } from "../errors";
import { AGENT_TOKEN_NAME_HEADER } from "../pool/sockets";
import { agentPoolStub } from "../pool/stub";

export const agentRoutes = new Hono<AppEnv>();

agentRoutes.use(requireAgentToken);

agentRoutes.get("/connect", (c) => {
  const upgrade = new Request(c.req.raw);
  upgrade.headers.set(AGENT_TOKEN_NAME_HEADER, c.get("agentTokenName"));
  return agentPoolStub(c.env, c.get("agentTokenName")).fetch(upgrade);
});

agentRoutes.get("/jobs/:id/context", async (c) => {
  const id = c.req.param("id");
  const leaseToken = c.req.header(LEASE_HEADER) ?? "";
  if (!(await agentPoolStub(c.env, c.get("agentTokenName")).mayFetchContext(id, leaseToken))) {
    throw new ApiError(403, `job '${id}' is not leased to you: send the lease token of its current assignment`, LEASE_HEADER);
  }
  const context = await openContext(c.env.BUCKET, id);
  if (!context) throw new ApiError(404, `the context of job '${id}' is gone`, "id");
  return new Response(context.body, {
    headers: { "Content-Type": "application/x-tar", "Content-Length": String(context.size) },
  });
});
