/**
 * Where the CLI finds its Worker and API token: `DOCKIFY_URL` and
 * `DOCKIFY_TOKEN` in the environment, else the same names as `KEY=value`
 * lines in a config file (the agent's --config format, read with dotenv):
 * `$DOCKIFY_CONFIG`, else `$XDG_CONFIG_HOME/dockify/config`, else
 * `~/.config/dockify/config`. The environment wins over the file. The file
 * holds a token, so one that every user of the host can read is refused, as
 * ssh refuses such a key.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { parse } from "dotenv";
import { describeError } from "../agent/errors";
import { CliError, EXIT_USAGE } from "./errors";

export const SETTINGS = ["DOCKIFY_URL", "DOCKIFY_TOKEN"] as const;
const OTHERS_READ = 0o004;

export interface CliSettings {
  /** The Worker's base URL, without a trailing slash. */
  url: string;
  token: string;
}

/** The config file this environment points at (it may not exist). */
export function configFilePath(env: NodeJS.ProcessEnv): string {
  if (env.DOCKIFY_CONFIG) return env.DOCKIFY_CONFIG;
  const base = env.XDG_CONFIG_HOME || join(homedir(), ".config");
  return join(base, "dockify", "config");
}

function readFile(path: string, named: boolean): Record<string, string> {
  if (!existsSync(path)) {
    if (named) throw new CliError(`DOCKIFY_CONFIG names ${path}, which does not exist`, EXIT_USAGE);
    return {};
  }
  try {
    const mode = statSync(path).mode;
    if (mode & OTHERS_READ) {
      const octal = (mode & 0o777).toString(8).padStart(3, "0");
      throw new CliError(`${path} holds an API token and every user of this host can read it (mode ${octal}): chmod 600 ${path}`, EXIT_USAGE);
    }
    return parse(readFileSync(path, "utf8"));
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`cannot read ${path}: ${describeError(error)}`, EXIT_USAGE);
  }
}

/** The settings, every problem named at once; a CliError (exit code 2) when any is missing or wrong. */
export function loadSettings(env: NodeJS.ProcessEnv = process.env): CliSettings {
  const path = configFilePath(env);
  const file = readFile(path, Boolean(env.DOCKIFY_CONFIG));
  const value = (name: (typeof SETTINGS)[number]) => (env[name] || file[name] || "").trim();
  const problems: string[] = [];
  const url = value("DOCKIFY_URL").replace(/\/+$/, "");
  if (url === "") {
    problems.push("DOCKIFY_URL is not set: the Worker's URL, e.g. https://dockify.example.workers.dev");
  } else {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      // reported below
    }
    if (!parsed || (parsed.protocol !== "https:" && parsed.protocol !== "http:")) problems.push(`DOCKIFY_URL=${url} is not an http(s) URL`);
  }
  const token = value("DOCKIFY_TOKEN");
  if (token === "") problems.push("DOCKIFY_TOKEN is not set: your Dockify API token");
  if (problems.length > 0) {
    throw new CliError(`${problems.join("\n")}\n(set them in the environment or in ${path} as KEY=value lines; see dockify --help)`, EXIT_USAGE);
  }
  return { url, token };
}
