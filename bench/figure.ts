/**
 * What every benchmark script hands back, and how it is printed: rows of one
 * table (figure, ours, baseline, ratio, note), as text or as JSON. Each
 * script exports `run(options)` for `npm run bench` (bench/all.ts) and, run
 * alone, calls `main()`:
 *
 *   npx tsx bench/<script>.ts [--json] [--name=value …]
 *
 * Progress goes to stderr, so `--json` leaves stdout to the JSON alone.
 */
import { pathToFileURL } from "node:url";

/** One measured figure, with what it was measured against in the same run, if anything. */
export interface Row {
  /** What is measured, e.g. `cold build + push (median of 5)`. */
  figure: string;
  /** Ours, as printed: `812 ms`, `p50 4 ms / p99 19 ms`. */
  ours: string;
  /** The baseline, as printed, or `-` when the figure stands alone. */
  baseline: string;
  /** Ours over the baseline (`1.13x`), or the figure's units where there is no baseline. */
  ratio: string;
  /** What limits it, what the baseline is, where it misses what users want. */
  note: string;
  /** The numbers behind the row, for `--json`. */
  data: Record<string, unknown>;
}

/** Named options from `--name=value` (and `--flag` as `true`); a script reads what it knows. */
export type Options = Record<string, string | true>;

export function parseOptions(argv: readonly string[]): Options {
  const options: Options = {};
  for (const argument of argv) {
    const match = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(argument);
    if (!match) throw new Error(`unknown argument ${JSON.stringify(argument)}: options are --name=value`);
    options[match[1]!] = match[2] ?? true;
  }
  return options;
}

/** A whole-number option, `fallback` when absent; anything else is a mistake said at once. */
export function numberOption(options: Options, name: string, fallback: number): number {
  const value = options[name];
  if (value === undefined) return fallback;
  const number = Number(value);
  if (value === true || !Number.isFinite(number) || number <= 0) throw new Error(`--${name} must be a positive number (got ${JSON.stringify(value)})`);
  return number;
}

/** Progress for whoever watches, on stderr. */
export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

export const ms = (value: number) => `${value.toFixed(value < 10 ? 1 : 0)} ms`;
export const seconds = (value: number) => `${(value / 1000).toFixed(1)} s`;
/** Bytes as KiB under a MiB, else MiB. */
export const size = (bytes: number) => (bytes < 1024 ** 2 ? `${(bytes / 1024).toFixed(0)} KiB` : `${(bytes / 1024 ** 2).toFixed(bytes < 10 * 1024 ** 2 ? 1 : 0)} MiB`);
export const ratio = (ours: number, baseline: number) => `${(ours / baseline).toFixed(2)}x`;

/** The rows as one plain-text table (columns padded), or as a Markdown table for the README. */
export function formatTable(rows: readonly Row[], markdown = false): string {
  const header = ["figure", "ours", "baseline", "ratio / units", "note"];
  const cells = rows.map((row) => [row.figure, row.ours, row.baseline, row.ratio, row.note]);
  if (markdown) {
    const escape = (cell: string) => cell.replaceAll("|", "\\|");
    return [header, header.map(() => "---"), ...cells].map((line) => `| ${line.map(escape).join(" | ")} |`).join("\n");
  }
  // The note is last and left unpadded: it may be long.
  const widths = header.slice(0, -1).map((_, column) => Math.max(header[column]!.length, ...cells.map((line) => line[column]!.length)));
  const line = (values: string[]) => values.map((value, column) => (column < widths.length ? value.padEnd(widths[column]!) : value)).join("  ");
  return [line(header), line(widths.map((width) => "-".repeat(width)).concat("----")), ...cells.map(line)].join("\n");
}

/** Prints the rows as `--json` asks (an array of rows) or as the table, plus Markdown with `--markdown`. */
export function printRows(rows: readonly Row[], options: Options): void {
  if (options.json) console.log(JSON.stringify(rows, null, 2));
  else console.log(options.markdown ? formatTable(rows, true) : formatTable(rows));
}

/** Whether the module at `url` is the script node was started with (not imported by bench/all.ts). */
export function isMain(url: string): boolean {
  return process.argv[1] !== undefined && url === pathToFileURL(process.argv[1]).href;
}

/** Runs one script's figures from its command line and prints them; exits 1 with the error on failure. */
export async function main(run: (options: Options) => Promise<Row[]>): Promise<void> {
  try {
    const options = parseOptions(process.argv.slice(2));
    printRows(await run(options), options);
  } catch (error) {
    console.error(error);
    process.exitCode = 1;
  }
}
