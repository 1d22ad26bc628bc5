/**
 * An agent's /metrics, read the way Prometheus reads it: parsed by a
 * Prometheus text-format parser (parse-prometheus-text-format), never matched
 * with a regular expression.
 */
import parsePrometheusTextFormat, { type MetricFamily, type Sample } from "parse-prometheus-text-format";

export class Metrics {
  readonly #families: Map<string, MetricFamily>;

  constructor(text: string) {
    this.#families = new Map(parsePrometheusTextFormat(text).map((family) => [family.name, family]));
  }

  family(name: string): MetricFamily | undefined {
    return this.#families.get(name);
  }

  /** The sample of `name` whose labels include `labels`; throws when there is none. */
  sample(name: string, labels: Record<string, string> = {}): Sample {
    const family = this.#families.get(name);
    const found = family?.metrics.find((sample) => Object.entries(labels).every(([key, value]) => sample.labels?.[key] === value));
    if (!found) throw new Error(`no ${name}${JSON.stringify(labels)} in the metrics (${[...this.#families.keys()].filter((key) => key.startsWith("dockify")).join(", ")})`);
    return found;
  }

  /** A counter's or gauge's value. */
  value(name: string, labels: Record<string, string> = {}): number {
    return Number(this.sample(name, labels).value);
  }

  /** A histogram's count and sum. */
  histogram(name: string, labels: Record<string, string> = {}): { count: number; sum: number; buckets: Record<string, number> } {
    const sample = this.sample(name, labels);
    const buckets = Object.fromEntries(Object.entries(sample.buckets ?? {}).map(([bound, count]) => [bound, Number(count)]));
    return { count: Number(sample.count), sum: Number(sample.sum), buckets };
  }
}

/** GETs `url` (an agent's `/metrics`) and parses it; throws unless it answers 200 in Prometheus' text format. */
export async function scrape(url: string): Promise<Metrics> {
  const response = await fetch(url);
  const text = await response.text();
  if (response.status !== 200) throw new Error(`GET ${url}: HTTP ${response.status} ${text}`);
  if (!response.headers.get("content-type")?.startsWith("text/plain")) throw new Error(`GET ${url}: not Prometheus' text format`);
  return new Metrics(text);
}
