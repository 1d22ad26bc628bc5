/**
 * The package as an operator gets it: `npm pack` of this repository (which
 * bundles the commands, see scripts/bundle.ts), then `npm install` of that
 * tarball into an empty folder outside the repository. Dependencies come from
 * npm's cache when `npm ci` filled it (--prefer-offline), else from the registry.
 */
import { execFile } from "node:child_process";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { REPO_ROOT, tempDir } from "./run-dir";

const run = promisify(execFile);
/** npm install from a warm cache takes seconds; a cold one fetches every dependency. */
const INSTALL_TIMEOUT_MS = 240_000;

export interface InstalledPackage {
  /** The tarball `npm pack` wrote. */
  tarball: string;
  /** The folder it was installed into (no repository around it). */
  dir: string;
  /** Installed commands, by name: `node_modules/.bin/<name>`. */
  bin: (name: string) => string;
}

export async function packAndInstall(): Promise<InstalledPackage> {
  const packed = tempDir("pack");
  // npm reads the repository's .npmrc and package.json; the output is the tarball's name, last.
  const { stdout } = await run("npm", ["pack", "--pack-destination", packed, "--silent"], { cwd: REPO_ROOT, timeout: INSTALL_TIMEOUT_MS });
  const name = stdout.trim().split("\n").at(-1)!;
  const tarball = join(packed, name);
  const dir = tempDir("installed");
  // An empty project, so npm installs here and not into a parent folder's.
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "dockify-install-test", private: true }));
  await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", tarball], { cwd: dir, timeout: INSTALL_TIMEOUT_MS });
  if (!readdirSync(join(dir, "node_modules", ".bin")).length) throw new Error(`npm install ${tarball} installed no command`);
  return { tarball, dir, bin: (command) => join(dir, "node_modules", ".bin", command) };
}
