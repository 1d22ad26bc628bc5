/**
 * What `wrangler dev` keeps on disk (`--persist-to`): R2's objects as blob
 * files and the metadata and Durable Object databases as SQLite. Tests look
 * here to prove that nothing of a refused upload was kept, past what the API
 * says.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

export function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile());
}

/** R2's blob files (one an object or part): their paths and sizes. */
export function r2Blobs(persistDir: string): { path: string; bytes: number }[] {
  const r2 = join(persistDir, "v3", "r2");
  let files: string[];
  try {
    files = filesUnder(r2);
  } catch {
    return [];
  }
  return files.filter((path) => path.includes(`${"/"}blobs${"/"}`)).map((path) => ({ path, bytes: statSync(path).size }));
}

/** Files under `dir` that hold `needle` anywhere. */
export function filesContaining(dir: string, needle: Uint8Array): string[] {
  const bytes = Buffer.from(needle);
  return filesUnder(dir).filter((path) => readFileSync(path).includes(bytes));
}
