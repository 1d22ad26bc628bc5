/** `GET /metrics`: every pool's figures in Prometheus' text format, behind the metrics token. */
import { Hono } from "hono";
import { requireMetricsToken } from "../auth";
import type { AppEnv } from "../env";
import { fleet } from "../fleet";
import { metricFamilies } from "../metrics/collect";
import { CONTENT_TYPE, render } from "../metrics/exposition";
import { errors, route, SECURITY } from "../openapi/describe";
import { poolStub } from "../pool/stub";

export const metricsRoutes = new Hono<AppEnv>();

metricsRoutes.get(
  "/metrics",
  route({
    tags: ["operations"],
    summary: "Prometheus metrics of every pool (README, Metrics)",
    security: SECURITY.metrics,
    responses: {
      200: { description: "the metrics, labelled with their pool", content: { [CONTENT_TYPE]: { schema: { type: "string" } } } },
      ...errors({ 401: "missing or invalid metrics token (or DOCKIFY_METRICS_TOKEN unset)", 503: "the server is not configured (the answer names the variable)" }),
    },
  }),
  requireMetricsToken,
  async (c) => {
    // Pools answer at once, side by side: one slow pool costs the scrape its own time, not the sum.
    const pools = await Promise.all(fleet(c.env).pools.map(async (pool) => ({ pool, metrics: await poolStub(c.env, pool).metrics() })));
    return c.body(render(metricFamilies(pools)), 200, { "Content-Type": CONTENT_TYPE });
  },
);
