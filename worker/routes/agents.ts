/** What agents call: the WebSocket to the pool, the context of a job they hold, and a ping that checks without connecting. */
import { Hono } from "hono";
import { parseLabels } from "../../shared/labels";
import { LEASE_HEADER, type AgentPing } from "../../shared/protocol";
import { agentVersionRefusal } from "../agent-version";
import { requireAgentToken } from "../auth";
import { openContext } from "../context/store";
import type { AppEnv } from "../env";
import { ApiError } from "../errors";
import { fleet } from "../fleet";
import { settings } from "../settings";
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

/**
 * Whether this Worker would take an agent with this token, version and labels, answered by the Worker alone: no
 * pool hears of it, so a ping can never be given a job (`dockify-agent doctor`). Refusals are the pool's own
 * sentences: 426 for the version, 403 for labels.
 */
agentRoutes.get("/ping", (c) => {
  const tokenName = c.get("agentTokenName");
  const minimum = settings(c.env).minAgentVersion;
  const version = c.req.query("version");
  const outdated = version === undefined ? null : agentVersionRefusal(version, minimum);
  if (outdated) throw new ApiError(426, outdated, "version");
  const labelsText = c.req.query("labels");
  if (labelsText !== undefined) {
    const parsed = parseLabels(labelsText);
    if ("error" in parsed) throw new ApiError(400, `labels: ${parsed.error}`, "labels");
    const forbidden = fleet(c.env).forbiddenAgentLabel(parsed.labels, tokenName);
    if (forbidden) throw new ApiError(403, forbidden, "labels");
  }
  const ping: AgentPing = { pool: fleet(c.env).agentPool(tokenName), min_agent_version: minimum };
  return c.json(ping);
});
