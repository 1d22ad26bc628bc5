/**
 * Which files of a build folder go into the context, by Docker's rules: the
 * `.dockerignore` beside the context's root (or `<Dockerfile>.dockerignore`
 * next to the Dockerfile, which BuildKit's Docker CLI prefers), matched with
 * @balena/dockerignore, a port of Docker's own matcher (moby's fileutils), so
 * `*`, `**`, `!` exceptions and re-included folders behave as in `docker build`.
 * As the Docker CLI does, the Dockerfile is sent even when a pattern excludes
 * it: the builder needs it. The Docker CLI sends an excluded .dockerignore too,
 * for the daemon to read and then drop; no builder of Dockify's reads it, so
 * an excluded .dockerignore stays out, as it stays out of Docker's image.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import ignore from "@balena/dockerignore";

export const DOCKERIGNORE = ".dockerignore";

export interface ContextFilter {
  /** Whether a path relative to the context's root (`a/b`, `/` separators) stays out of the context. */
  excludes(path: string): boolean;
  /**
   * Whether some `!` pattern may bring back a path under an excluded folder: then the walk must look inside
   * excluded folders (Docker walks them too), else it may skip them whole.
   */
  hasExceptions: boolean;
  /** The ignore file read, relative to the context, or null when there was none. */
  source: string | null;
}

/** Lines of an ignore file as patterns: Docker skips blank lines and `#` comments (the matcher does too). */
function patternsOf(text: string): string[] {
  return text.split(/\r?\n/);
}

/**
 * The filter for a context folder.
 * @param dockerfile the Dockerfile's path relative to the context (`/` separators), when it is inside it
 */
export function contextFilter(contextDir: string, dockerfile: string | null): ContextFilter {
  const specific = dockerfile === null ? null : `${dockerfile}${DOCKERIGNORE}`;
  const source = specific !== null && existsSync(join(contextDir, specific)) ? specific : existsSync(join(contextDir, DOCKERIGNORE)) ? DOCKERIGNORE : null;
  const patterns = source === null ? [] : patternsOf(readFileSync(join(contextDir, source), "utf8"));
  const matcher = ignore({ ignorecase: false }).add(patterns);
  // docker/cli's TrimBuildFilesFromExcludes keeps the Dockerfile whatever the patterns say.
  const keep = (dockerfile === null ? [] : [dockerfile]).filter((path) => matcher.ignores(path));
  if (keep.length > 0) matcher.add(keep.map((path) => `!${path}`));
  const hasExceptions = [...patterns, ...keep.map((path) => `!${path}`)].some((line) => line.trim().startsWith("!"));
  return { excludes: (path) => matcher.ignores(path), hasExceptions, source };
}
