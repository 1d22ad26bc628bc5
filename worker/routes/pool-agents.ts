/** `GET /v1/agents`: the build agents connected to the tenant's pool, with their versions and whether they take builds. */
import { Hono } from "hono";
import type { AgentList } from "../../shared/api";
import { requireApiToken } from "../auth";
import type { AppEnv } from "../env";
import { fleet } from "../fleet";
import { tenantPoolStub } from "../pool/stub";
import { toAgentView } from "../responses";

export const poolAgentRoutes = new Hono<AppEnv>();

poolAgentRoutes.use(requireApiToken);

poolAgentRoutes.get("/agents", async (c) => {
  const tenant = c.get("tenant");
  const agents = await tenantPoolStub(c.env, tenant).connectedAgents();
  const list: AgentList = {
    pool: fleet(c.env).tenantPool(tenant),
    // Oldest connection first: the order a fleet came up in, stable between calls.
    agents: agents.sort((a, b) => a.connectedAt - b.connectedAt || a.name.localeCompare(b.name)).map(toAgentView),
  };
  return c.json(list);
});
