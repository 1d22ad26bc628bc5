/** Labels: `k=v,k=v` on agents (what they offer) and on builds (what they require). */
import { z } from "zod";

const labelKey = z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, "label names are lower-case letters, digits, '_', '.', '-'");
const labelValue = z.string().regex(/^[A-Za-z0-9_.-]{0,63}$/, "label values are letters, digits, '_', '.', '-'");
export const MAX_LABELS = 32;
export const labelsSchema = z
  .record(labelKey, labelValue)
  .refine((labels) => Object.keys(labels).length <= MAX_LABELS, `at most ${MAX_LABELS} labels`);
export type Labels = z.infer<typeof labelsSchema>;

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
