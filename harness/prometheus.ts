/**
 * Prometheus text read the way Prometheus reads it, with a parser
 * (prom2javascript; parse-prometheus-text-format merges a histogram's series
 * into one as soon as they carry a label besides `le`), never a regular
 * expression. For tests of the Worker's /metrics, inside workerd and in Node.
 */
import { getMetricsFromIterator, type PromData, type PromHistogramData, type PromMetrics } from "prom2javascript";

function matches(labels: Record<string, string>, wanted: Record<string, string>): boolean {
  return Object.entries(wanted).every(([key, value]) => labels[key] === value);
}

export class PrometheusText {
  private constructor(readonly metrics: PromMetrics) {}

  static async parse(text: string): Promise<PrometheusText> {
    return new PrometheusText(await getMetricsFromIterator(text.split("\n")[Symbol.iterator]()));
  }

  /** The family's type as its TYPE line says (`counter`, `gauge`, `histogram`), or undefined when it is absent. */
  type(name: string): string | undefined {
    return this.metrics[name]?.type;
  }

  /** A counter's or gauge's value for the series whose labels include `labels`; throws when there is none. */
  value(name: string, labels: Record<string, string> = {}): number {
    const series = (this.metrics[name]?.data as PromData[] | undefined)?.find((data) => matches(data.labels, labels));
    if (!series) throw new Error(`no ${name}${JSON.stringify(labels)} among ${Object.keys(this.metrics).join(", ")}`);
    return series.value;
  }

  /** A histogram's series whose labels include `labels`: cumulative buckets by upper bound, sum and count. */
  histogram(name: string, labels: Record<string, string> = {}): PromHistogramData {
    if (this.metrics[name]?.type !== "histogram") throw new Error(`${name} is not a histogram`);
    const series = (this.metrics[name].data as PromHistogramData[]).find((data) => matches(data.labels, labels));
    if (!series) throw new Error(`no ${name}${JSON.stringify(labels)}`);
    return series;
  }
}
