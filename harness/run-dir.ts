/** Where the harness runs from and writes to: the repository's root, and one temp dir per run for every log and data dir. */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository's root: wrangler and the agent run from here. */
export const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

let currentRunDir: string | undefined;

/** The per-run temp dir (one per test file's process) that holds every log and data dir. */
export function runDir(): string {
  currentRunDir ??= mkdtempSync(join(tmpdir(), "dockify-e2e-"));
  return currentRunDir;
}

/** A fresh directory under the run dir, e.g. for a registry's storage. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(runDir(), `${prefix}-`));
}
