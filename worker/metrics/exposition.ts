/**
 * Prometheus' text exposition format (version 0.0.4), written out: prom-client
 * needs Node's runtime and no maintained writer runs on workerd, and the format
 * is small. Tests read the output back with a Prometheus text parser.
 * https://prometheus.io/docs/instrumenting/exposition_formats/
 */

export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export type MetricLabels = Record<string, string>;
export type MetricType = "counter" | "gauge" | "histogram";

export interface Sample {
  /** The sample's own name: the family's, or for a histogram `<family>_bucket`, `_sum`, `_count`. */
  name: string;
  labels: MetricLabels;
  value: number;
}

export interface Family {
  name: string;
  help: string;
  type: MetricType;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function escapeLabelValue(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll('"', '\\"');
}

function escapeHelp(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function formatLabels(labels: MetricLabels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return "";
  for (const [name] of entries) if (!LABEL_NAME.test(name)) throw new Error(`invalid label name ${JSON.stringify(name)}`);
  return `{${entries.map(([name, value]) => `${name}="${escapeLabelValue(value)}"`).join(",")}}`;
}

/** The families as one exposition, each with its HELP and TYPE lines and then its samples. */
export function render(families: readonly Family[]): string {
  const lines: string[] = [];
  for (const family of families) {
    if (!METRIC_NAME.test(family.name)) throw new Error(`invalid metric name ${JSON.stringify(family.name)}`);
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`);
    for (const sample of family.samples) {
      if (!METRIC_NAME.test(sample.name) || !sample.name.startsWith(family.name)) {
        throw new Error(`sample ${JSON.stringify(sample.name)} does not belong to ${family.name}`);
      }
      lines.push(`${sample.name}${formatLabels(sample.labels)} ${formatValue(sample.value)}`);
    }
  }
  return `${lines.join("\n")}\n`;
}
