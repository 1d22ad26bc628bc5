/** Bindings, variables and secrets of the Worker, typed. */
import type { Pool } from "./pool/pool";
import type { SettingsVars } from "./settings";

export interface Env extends SettingsVars {
  BUCKET: R2Bucket;
  /** The static pages (web/): the docs and the dashboard, served through pages.ts. */
  ASSETS: Fetcher;
  POOL: DurableObjectNamespace<Pool>;
  /** `name=token` pairs, comma-separated; a token may be written `sha256:<hex>`. The name is the tenant. */
  DOCKIFY_API_TOKENS?: string;
  /** Comma-separated agent tokens, `name=token` or just `token` (plain or `sha256:<hex>`). */
  DOCKIFY_AGENT_TOKENS?: string;
  /** JSON `{"<agent token name>": {"<label>": "<value>"}}`: label keys granted to some tokens are reserved to them. */
  DOCKIFY_AGENT_TOKEN_LABELS?: string;
  /** JSON `{"<pool>": {"agents": [agent token names], "tenants": [tenant names]}}`; the unlisted share `default` (fleet.ts). */
  DOCKIFY_POOLS?: string;
  /** The token /metrics asks for (plain or `sha256:<hex>`); unset, /metrics answers 401 to everyone. */
  DOCKIFY_METRICS_TOKEN?: string;
  /** JSON: each tenant's webhook signing secret and default notify URL (webhooks/config.ts). */
  DOCKIFY_WEBHOOKS?: string;
  /** At least 32 characters; registry passwords are sealed with a key derived from it. */
  DOCKIFY_SECRET_KEY?: string;
  /** The key before the last rotation: still opens passwords sealed under it. */
  DOCKIFY_SECRET_KEY_PREVIOUS?: string;
}

/** Variables the Hono handlers set for later ones. */
export interface AppVariables {
  /** The API token's name: the tenant whose builds a request may see. */
  tenant: string;
  /** The agent token's name, for the labels it is granted. */
  agentTokenName: string;
}

export type AppEnv = { Bindings: Env; Variables: AppVariables };
