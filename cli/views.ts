/** How builds read in a terminal: one build's status, a failure, the list. */
import type { Build } from "../shared/api";

function seconds(from: string | null, to: string | null): string | null {
  if (from === null) return null;
  const end = to === null ? Date.now() : Date.parse(to);
  return `${((end - Date.parse(from)) / 1000).toFixed(1)} s`;
}

/** A build that did not succeed, in one sentence: the step that failed and the error. */
export function describeOutcome(build: Build): string {
  if (build.state === "canceled") return `build ${build.id} was canceled`;
  if (build.state === "failed") return `build ${build.id} failed at step ${build.step ?? "?"}: ${build.error ?? "(no message)"}`;
  return `build ${build.id} is ${build.state}`;
}

/** `dockify status`: field, value lines. */
export function statusLines(build: Build): string[] {
  const rows: [string, string | null][] = [
    ["id", build.id],
    ["state", build.state],
    ["image", build.image_reference],
    ["digest", build.digest],
    ["step", build.step],
    ["error", build.error],
    ["waiting", build.waiting],
    ["attempt", String(build.attempt)],
    ["labels", Object.keys(build.labels).length ? Object.entries(build.labels).map(([key, value]) => `${key}=${value}`).join(",") : null],
    ["created", build.created_at],
    ["started", build.started_at],
    ["finished", build.finished_at],
    ["duration", seconds(build.started_at, build.finished_at)],
  ];
  return rows.filter((row): row is [string, string] => row[1] !== null).map(([key, value]) => `${`${key}:`.padEnd(10)}${value}`);
}

/** `dockify ls`: a table, newest first. */
export function listLines(builds: readonly Build[]): string[] {
  const rows = [
    ["ID", "STATE", "IMAGE", "CREATED", "DURATION"],
    ...builds.map((build) => [build.id, build.state, build.image_reference, build.created_at, seconds(build.started_at, build.finished_at) ?? "-"]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join("  "));
}
