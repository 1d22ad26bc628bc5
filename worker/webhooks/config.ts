/**
 * Each tenant's webhook settings, from the secret `DOCKIFY_WEBHOOKS`: JSON
 * `{"<tenant>": {"secret": "…", "previous_secret": "…", "url": "https://…"}}`.
 * `secret` signs every delivery to the tenant (HMAC-SHA256, signature.ts);
 * during a rotation `previous_secret` signs too, so receivers holding either
 * verify. `url` is where the tenant's builds notify when they name no
 * `notify_url` of their own. A tenant without an entry gets no webhooks.
 *
 * The secret is configured rather than derived from DOCKIFY_SECRET_KEY: a
 * derived one would have to be shown to the tenant by the API (no response
 * carries a secret), and would change whenever that key is rotated.
 */
import { z } from "zod";
import { parseJson } from "../fleet";
import { tokenNames } from "../tokens";
import { SettingsError, settings, type SettingsVars } from "../settings";
import { notifyUrlProblem } from "./target";

export const WEBHOOKS_VARIABLE = "DOCKIFY_WEBHOOKS";
/** Long enough that guessing it is out of the question; `openssl rand -hex 32` gives 64. */
export const MIN_SECRET_CHARS = 32;

const secret = z.string().min(MIN_SECRET_CHARS, `must be at least ${MIN_SECRET_CHARS} characters (openssl rand -hex 32)`).max(256);

const tenantWebhooks = z.strictObject({
  secret,
  previous_secret: secret.optional(),
  url: z.string().optional(),
});
const webhooksSchema = z.record(z.string(), tenantWebhooks);
export type TenantWebhooks = z.infer<typeof tenantWebhooks>;

export interface WebhookVars extends SettingsVars {
  DOCKIFY_WEBHOOKS?: string;
  DOCKIFY_API_TOKENS?: string;
}

const parsedFor = new WeakMap<object, Record<string, TenantWebhooks>>();

/** Every tenant's webhook settings, or a SettingsError naming DOCKIFY_WEBHOOKS and what is wrong. */
export function webhookSettings(vars: WebhookVars): Record<string, TenantWebhooks> {
  const cached = parsedFor.get(vars);
  if (cached) return cached;
  const parsed = parseJson(WEBHOOKS_VARIABLE, vars.DOCKIFY_WEBHOOKS, webhooksSchema);
  const policy = { allowHttpLoopback: settings(vars).webhookAllowHttpLoopback };
  const tenants = tokenNames(vars.DOCKIFY_API_TOKENS);
  const problems: string[] = [];
  for (const [tenant, entry] of Object.entries(parsed)) {
    if (!tenants.has(tenant)) problems.push(`${WEBHOOKS_VARIABLE}: '${tenant}' is not a name in DOCKIFY_API_TOKENS (name=token)`);
    const problem = entry.url === undefined ? null : notifyUrlProblem(entry.url, policy);
    if (problem) problems.push(`${WEBHOOKS_VARIABLE}.${tenant}.url ${problem}`);
  }
  if (problems.length > 0) throw new SettingsError(WEBHOOKS_VARIABLE, problems.join("; "));
  parsedFor.set(vars, parsed);
  return parsed;
}

/** The secrets that sign the tenant's deliveries, newest first; empty when it has none. */
export function signingSecrets(vars: WebhookVars, tenant: string): string[] {
  const entry = webhookSettings(vars)[tenant];
  return entry ? [entry.secret, ...(entry.previous_secret ? [entry.previous_secret] : [])] : [];
}

/**
 * Where a new build of `tenant` notifies: its own `notify_url`, checked, or the tenant's default, or nowhere.
 * Null, or the reason the given URL is refused (for a 400 naming notify_url).
 */
export function notifyUrlFor(vars: WebhookVars, tenant: string, given: string | undefined): { url: string | null } | { refused: string } {
  const entry = webhookSettings(vars)[tenant];
  if (given === undefined || given === "") return { url: entry?.url ?? null };
  if (!entry) {
    return { refused: `webhooks are not set up for tenant '${tenant}': the operator gives it a signing secret in ${WEBHOOKS_VARIABLE}` };
  }
  const problem = notifyUrlProblem(given, { allowHttpLoopback: settings(vars).webhookAllowHttpLoopback });
  return problem ? { refused: problem } : { url: given };
}
