/**
 * Labels granted to agent tokens. A label key granted to any token is
 * reserved: only agents whose token grants it may declare it, and only with
 * the granted value. So a build that asks for `gpu=true` reaches only the
 * machines the operator gave a `gpu=true` token, whatever other agents claim.
 */
import { z } from "zod";
import { labelsSchema, type Labels } from "../../shared/labels";

const grantsSchema = z.record(z.string(), labelsSchema);
export type Grants = z.infer<typeof grantsSchema>;

export class GrantsConfigError extends Error {}

export function parseGrants(config: string | undefined): Grants {
  if (!config) return {};
  let json: unknown;
  try {
    json = JSON.parse(config);
  } catch {
    throw new GrantsConfigError("DOCKIFY_AGENT_TOKEN_LABELS is not JSON");
  }
  const parsed = grantsSchema.safeParse(json);
  if (!parsed.success) throw new GrantsConfigError(`DOCKIFY_AGENT_TOKEN_LABELS: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

/** Why these labels may not be declared with this token, or null. */
export function forbiddenLabel(labels: Labels, tokenName: string, grants: Grants): string | null {
  const reserved = new Set(Object.values(grants).flatMap((granted) => Object.keys(granted)));
  const granted = grants[tokenName] ?? {};
  for (const [key, value] of Object.entries(labels)) {
    if (reserved.has(key) && granted[key] !== value) return `label ${key}=${value} is not granted to agent token '${tokenName}'`;
  }
  return null;
}
