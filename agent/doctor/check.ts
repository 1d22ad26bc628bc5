/** One check of `dockify-agent doctor`, and how it is printed: one line each. */

export type CheckState = "ok" | "warn" | "fail" | "skip";

export interface CheckResult {
  /** Short, the same every run: `engine`, `buildkit`, `worker`, `disk`, `limits`, `config`. */
  name: string;
  state: CheckState;
  /** What was found. */
  message: string;
  /** What to do about it, for a warning or a failure. */
  fix?: string;
}

const MARKS: Record<CheckState, string> = { ok: "ok  ", warn: "warn", fail: "FAIL", skip: "skip" };

/** `ok   engine: Docker Engine 20.10.24 answers …` or `FAIL worker: … fix: …`. */
export function formatCheck({ name, state, message, fix }: CheckResult): string {
  return `${MARKS[state]} ${name}: ${message}${fix ? `; fix: ${fix}` : ""}`;
}

/** The host can take builds when nothing failed; warnings are worth reading but block nothing. */
export function hostCanBuild(results: readonly CheckResult[]): boolean {
  return results.every(({ state }) => state !== "fail");
}
