/**
 * Makes the generated parts of the Worker's static assets (web/): Swagger UI's
 * files from swagger-ui-dist for /docs, and the dashboard's bundle from
 * dashboard/*.ts. wrangler runs it before every `wrangler dev` and
 * `wrangler deploy` (wrangler.toml `[build]`); several may run at once (tests
 * start several Workers), so each file is written whole and renamed into place.
 */
import { copyFileSync, mkdirSync, renameSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));
const WEB = join(REPO_ROOT, "web");
/** What /docs needs of Swagger UI: its bundle and its styles (and its licence, which must travel with it). */
const SWAGGER_FILES = ["swagger-ui-bundle.js", "swagger-ui.css", "LICENSE"];

function unique(path: string): string {
  return `${path}.${process.pid}.${Date.now()}.tmp`;
}

function copyInto(from: string, to: string): void {
  mkdirSync(dirname(to), { recursive: true });
  const temp = unique(to);
  copyFileSync(from, temp);
  renameSync(temp, to);
}

const swaggerDir = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
for (const file of SWAGGER_FILES) copyInto(join(swaggerDir, file), join(WEB, "docs", "vendor", file));

const bundle = join(WEB, "dashboard", "app.js");
const temp = unique(bundle);
await build({
  entryPoints: [join(REPO_ROOT, "dashboard", "main.ts")],
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  legalComments: "none",
  outfile: temp,
  logLevel: "warning",
});
renameSync(temp, bundle);
