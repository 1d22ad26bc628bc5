/** Labels: `k=v,k=v` on agents (what they offer) and on builds (what they require). */
import { labelsSchema, type Labels } from "./protocol";

/** Parses `k=v,k=v`; returns the labels, or a sentence saying what is wrong. */
export function parseLabels(text: string): { labels: Labels } | { error: string } {
  const labels: Record<string, string> = {};
  for (const pair of text.split(",").map((item) => item.trim()).filter(Boolean)) {
    const equals = pair.indexOf("=");
    if (equals <= 0) return { error: `"${pair}" is not k=v (expected k=v,k=v)` };
    labels[pair.slice(0, equals).trim()] = pair.slice(equals + 1).trim();
  }
  const checked = labelsSchema.safeParse(labels);
  return checked.success ? { labels: checked.data } : { error: checked.error.issues[0]?.message ?? "invalid labels" };
}

export function formatLabels(labels: Labels): string {
  return Object.entries(labels).map(([key, value]) => `${key}=${value}`).join(",");
}

/** An agent can take a build when it has every label the build asks for, with the same value. */
export function labelsMatch(required: Labels, offered: Labels): boolean {
  return Object.entries(required).every(([key, value]) => offered[key] === value);
}
