/** `GET /v1/agents` and `GET /v1/queue`: the tenant's pool, its connected build agents and why its builds wait. */
import { Hono } from "hono";
import { agentList, queueSummary, type AgentList } from "../../shared/api";
import { requireApiToken } from "../auth";
import type { AppEnv } from "../env";
import { fleet } from "../fleet";
import { AUTH_ERRORS, errors, json, route, SECURITY } from "../openapi/describe";
import { tenantPoolStub } from "../pool/stub";

export const poolAgentRoutes = new Hono<AppEnv>();

// Per path: a `use` without one would run for every /v1 route, which builds.ts already guards.
poolAgentRoutes.use("/agents", requireApiToken);
poolAgentRoutes.use("/queue", requireApiToken);

poolAgentRoutes.get(
  "/agents",
  route({
    tags: ["pool"],
    summary: "The build agents connected to the tenant's pool",
    security: SECURITY.api,
    responses: { 200: json(agentList, "the agents, oldest connection first"), ...errors(AUTH_ERRORS) },
  }),
  async (c) => {
    const tenant = c.get("tenant");
    const list: AgentList = { pool: fleet(c.env).tenantPool(tenant), agents: await tenantPoolStub(c.env, tenant).agentsFor(tenant) };
    return c.json(list);
  },
);

poolAgentRoutes.get(
  "/queue",
  route({
    tags: ["pool"],
    summary: "The tenant's waiting builds, by why they wait, and the pool's whole queue",
    security: SECURITY.api,
    responses: { 200: json(queueSummary, "the queue"), ...errors(AUTH_ERRORS) },
  }),
  async (c) => c.json(await tenantPoolStub(c.env, c.get("tenant")).queueFor(c.get("tenant"))),
);
