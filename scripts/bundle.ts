/**
 * Bundles the installed commands (package.json `bin`) into dist/, run by
 * `npm pack` (prepack): each entry point with our own code (agent/, shared/)
 * in one ESM file, so the commands run from the packed tarball without the
 * repository, TypeScript or tsx.
 *
 * Packages stay external, installed by npm from `dependencies`: dockerode pulls
 * in ssh2, whose optional native bindings a bundler cannot carry, and ws and
 * gRPC load optional parts at run time; outside the bundle they load as their
 * authors tested them, and npm updates and audits them. So this script fails
 * when the bundle imports a package that `dependencies` does not list: the
 * installed command would fail at its first run.
 *
 * Files our code reads beside itself at run time (`new URL("./x", import.meta.url)`)
 * are not bundled: they are copied to where the bundle looks for them (ASSETS).
 */
import { cpSync, readFileSync, rmSync } from "node:fs";
import { builtinModules } from "node:module";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** Output name (dist/NAME.js) → entry point. */
const ENTRIES = { "dockify-agent": "agent/cli.ts", dockify: "cli/main.ts" };
/**
 * Read at run time relative to the module that reads them, which in the bundle is dist/NAME.js: source folder → its
 * place under dist/. The BuildKit builder's protobuf definitions (agent/builders/buildkit/proto.ts loads `./proto/*.proto`).
 */
const ASSETS = { "agent/builders/buildkit/proto": "dist/proto" };

const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, "utf8")) as { dependencies: Record<string, string>; engines: { node: string } };
rmSync(`${ROOT}dist`, { recursive: true, force: true });

const result = await build({
  absWorkingDir: ROOT,
  entryPoints: ENTRIES,
  outdir: "dist",
  bundle: true,
  platform: "node",
  format: "esm",
  // The oldest Node package.json's engines allows.
  target: "node20",
  packages: "external",
  banner: { js: "#!/usr/bin/env node" },
  metafile: true,
  logLevel: "warning",
});

/** `@scope/name/sub/path` → `@scope/name`; `name/sub` → `name`. */
function packageName(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!;
}

const builtins = new Set(builtinModules);
const missing = new Set<string>();
for (const output of Object.values(result.metafile.outputs)) {
  for (const { path, external } of output.imports) {
    if (!external || path.startsWith("node:") || builtins.has(path)) continue;
    if (!(packageName(path) in pkg.dependencies)) missing.add(packageName(path));
  }
}
if (missing.size > 0) {
  console.error(`the bundle imports packages that package.json's dependencies do not list: ${[...missing].join(", ")}`);
  process.exit(1);
}
for (const [from, to] of Object.entries(ASSETS)) cpSync(`${ROOT}${from}`, `${ROOT}${to}`, { recursive: true });
for (const [file, { bytes }] of Object.entries(result.metafile.outputs)) console.log(`${file}: ${(bytes / 1024).toFixed(0)} KiB`);
