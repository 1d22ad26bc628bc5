/**
 * Figures over samples, for the bench and for tests that bound a latency:
 * one definition of a median and a percentile for both.
 */

/** The p-th percentile of sorted values (nearest rank): a value that was measured, never an interpolation. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new Error("percentile of no values");
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** The middle value (the mean of the two middle ones for an even count), of values in any order. */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error("median of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export interface Summary {
  count: number;
  min: number;
  p50: number;
  p99: number;
  max: number;
  median: number;
}

/** Count, range, median and the nearest-rank p50/p99 of values in any order. */
export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  return { count: sorted.length, min: sorted[0]!, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1)!, median: median(sorted) };
}
