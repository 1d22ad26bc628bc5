/**
 * What redacting a job's secrets costs the pool: building the redactor (every secret in every encoding it is
 * looked for in) and running one log batch through it, for the largest set of secrets a build may send
 * (shared/api.ts: 64 KiB in all, at most MAX_SECRET_LINES lines of six characters or more) in two layouts: as many
 * six-character lines as allowed, and 32 secrets of 2 KiB lines; and 64 KiB of six-character lines, which the bound
 * now refuses. Compared with the redactor before one-pass matching
 * (a split/join per form), which the bench keeps inline as the baseline.
 *
 *   npx tsx bench/redact-cost.ts [rounds]
 */
import { MAX_SECRET_LINES, REDACTED, redactor, secretForms } from "../shared/redact";

const rounds = Number(process.argv[2] ?? 5);
const BATCH_LINES = 200;
const LINE_CHARS = 120;

function loopRedactor(secrets: readonly string[]): (text: string) => string {
  const parts = secrets.flatMap((secret) => (/\n/.test(secret) ? [secret, ...secret.split("\n").filter((line) => line.length >= 6)] : [secret]));
  const forms = [...new Set(parts.flatMap(secretForms))].sort((a, b) => b.length - a.length);
  return (text) => {
    let result = text;
    for (const form of forms) if (result.includes(form)) result = result.split(form).join(REDACTED);
    return result;
  };
}

const random = (chars: number) => Array.from({ length: chars }, () => "abcdefghijklmnopqrstuvwxyz0123456789"[Math.floor(Math.random() * 36)]).join("");
const layouts: Record<string, string[]> = {
  [`${MAX_SECRET_LINES} lines of 6 characters`]: [Array.from({ length: MAX_SECRET_LINES }, () => random(6)).join("\n")],
  // What the bound now refuses (the review's case): 64 KiB of six-character lines.
  "9,362 lines of 6 characters (over the bound)": [Array.from({ length: 9_362 }, () => random(6)).join("\n")],
  "32 secrets of 8 lines of 250 characters": Array.from({ length: 32 }, () => Array.from({ length: 8 }, () => random(250)).join("\n")),
};
const batch = Array.from({ length: BATCH_LINES }, () => random(LINE_CHARS));

function time(run: () => unknown): number {
  let best = Infinity;
  for (let round = 0; round < rounds; round++) {
    const start = performance.now();
    run();
    best = Math.min(best, performance.now() - start);
  }
  return best;
}

for (const [layout, secrets] of Object.entries(layouts)) {
  for (const [name, make] of [["one pass (now)", redactor], ["split/join per form (before)", loopRedactor]] as const) {
    const build = time(() => make(secrets));
    const redact = make(secrets);
    const perBatch = time(() => batch.map(redact));
    console.log(`${layout}, ${name}: build ${build.toFixed(1)} ms, one batch of ${BATCH_LINES} lines of ${LINE_CHARS} chars ${perBatch.toFixed(1)} ms (best of ${rounds})`);
  }
}
