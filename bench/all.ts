/**
 * Every benchmark figure, one after another, as one table: `npm run bench`.
 * Each script starts its own stack (harness/stack.ts: registry, Worker under
 * wrangler dev, agents) with the settings its figure needs, so figures do not
 * disturb each other; each also runs alone (`npx tsx bench/<name>.ts --json`).
 *
 *   npm run bench [-- --json] [-- --markdown] [-- --only=dispatch,chaos,flood,streaming-2gb]
 *
 * The options here size the default run to finish in under ten minutes on a
 * 2-core machine; where that shortens a figure (fewer rounds, a capped drain,
 * a 15 s footprint window) its row says so. A figure that fails becomes a row
 * saying how, the others still run, and the exit code is 1.
 */
import { formatTable, parseOptions, printRows, progress, seconds, type Options, type Row } from "./figure";
import * as chaos from "./chaos";
import * as streaming from "./context-streaming";
import * as controlPlane from "./control-plane";
import * as dispatch from "./dispatch-latency";
import * as footprint from "./footprint";
import * as frameFlood from "./frame-flood";
import * as throughput from "./submission-throughput";
import * as cold from "./trivial-build";
import * as warm from "./warm-rebuild";

interface Figure {
  name: string;
  run: (options: Options) => Promise<Row[]>;
  options: Options;
  /** Left out of the default run (then only with --only=NAME): not one of the figures, or too long. */
  optional?: true;
}

const FIGURES: Figure[] = [
  { name: "cold", run: cold.run, options: { rounds: "5" } },
  { name: "warm", run: warm.run, options: { rounds: "3" } },
  { name: "dispatch", run: dispatch.run, options: { samples: "40" } },
  { name: "throughput", run: throughput.run, options: { seconds: "10", connections: "10" } },
  { name: "capacity", run: controlPlane.run, options: { builds: "5000", agents: "200", timeout: "45" } },
  { name: "streaming", run: streaming.run, options: { mb: "100" } },
  { name: "chaos", run: chaos.run, options: { builds: "200" } },
  { name: "footprint", run: footprint.run, options: { seconds: "15" } },
  // Issue 13's figure: API latency while one agent socket floods the pool.
  { name: "flood", run: frameFlood.run, options: { frames: "50000" }, optional: true },
  // The 2 GB context: minutes and about 8 GB of disk.
  { name: "streaming-2gb", run: streaming.run, options: { large: true }, optional: true },
];

const options = parseOptions(process.argv.slice(2));
const only = typeof options.only === "string" ? new Set(options.only.split(",")) : undefined;
const unknown = [...(only ?? [])].filter((name) => !FIGURES.some((figure) => figure.name === name));
if (unknown.length > 0) throw new Error(`--only: no figure ${unknown.join(", ")}; figures: ${FIGURES.map((figure) => figure.name).join(", ")}`);

const started = performance.now();
const rows: Row[] = [];
for (const figure of FIGURES.filter((candidate) => (only ? only.has(candidate.name) : !candidate.optional))) {
  const figureStarted = performance.now();
  progress(`--- ${figure.name}`);
  try {
    rows.push(...(await figure.run(figure.options)));
  } catch (error) {
    process.exitCode = 1;
    const message = error instanceof Error ? error.message : String(error);
    rows.push({ figure: figure.name, ours: "FAILED", baseline: "-", ratio: "-", note: message.split("\n")[0]!.slice(0, 200), data: { error: message } });
  }
  progress(`--- ${figure.name} took ${seconds(performance.now() - figureStarted)}`);
  // What is measured so far, in case a later figure hangs.
  if (!options.json) process.stderr.write(`${formatTable(rows)}\n`);
}
progress(`all figures in ${seconds(performance.now() - started)}`);
printRows(rows, options);
