/** Bearer-token middleware for the API (tenants) and for agents. */
import type { MiddlewareHandler } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { every } from "hono/combine";
import type { AppEnv, AppVariables, Env } from "./env";
import { errorResponse } from "./errors";
import { fleet } from "./fleet";
import { settings } from "./settings";
import { webhookSettings } from "./webhooks/config";
import { matchToken, parseTokens } from "./tokens";

type TokenSource = keyof Pick<Env, "DOCKIFY_API_TOKENS" | "DOCKIFY_AGENT_TOKENS" | "DOCKIFY_METRICS_TOKEN">;

/** Checks the bearer token against one configured list and records the name of the entry it matched. */
function requireToken(source: TokenSource, what: string, nameAs?: keyof AppVariables): MiddlewareHandler<AppEnv> {
  const refusal = () =>
    errorResponse(401, `missing or invalid ${what}: send the header 'Authorization: Bearer <token>'`, "Authorization");
  return bearerAuth<AppEnv>({
    verifyToken: async (token, c) => {
      const entry = await matchToken(await parseTokens(c.env[source]), token);
      if (entry && nameAs) c.set(nameAs, entry.name);
      return entry !== null;
    },
    noAuthenticationHeader: { message: refusal },
    invalidAuthenticationHeader: { message: refusal },
    invalidToken: { message: refusal },
  });
}

/**
 * A bad setting is said on every route that needs the settings (503 naming the variable, see index.ts), to
 * callers that passed authentication: someone without a token learns nothing of the configuration.
 */
const configured: MiddlewareHandler<AppEnv> = async (c, next) => {
  settings(c.env);
  fleet(c.env);
  webhookSettings(c.env);
  await next();
};

export const requireApiToken = every(requireToken("DOCKIFY_API_TOKENS", "API token", "tenant"), configured);
export const requireAgentToken = every(requireToken("DOCKIFY_AGENT_TOKENS", "agent token", "agentTokenName"), configured);
/** /metrics has a token of its own, so a scraper's token reads figures and nothing else; unset, nobody reads them. */
export const requireMetricsToken = every(requireToken("DOCKIFY_METRICS_TOKEN", "metrics token"), configured);
