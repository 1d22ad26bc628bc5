/**
 * `--config FILE`: the agent's settings as `KEY=value` lines, the same names
 * and rules as the environment (config.ts), the file's values under the
 * environment's. The format is the environment's own, as systemd's
 * EnvironmentFile= and `docker run --env-file` read it, so a line moves between
 * the file, a unit and a shell unchanged; dotenv parses it (comments, quotes).
 *
 * A name the agent does not know is refused with the other problems: in a file
 * meant for the agent it is a typo, which would otherwise be ignored quietly.
 */
import { readFileSync } from "node:fs";
import { parse } from "dotenv";
import { AGENT_SETTINGS, ConfigError } from "../config";
import { describeError } from "../errors";

/** What dockerode reads besides ours (DOCKER_HOST and its TLS settings), which may sit in the same file. */
const DOCKER_SETTINGS = ["DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"];
const KNOWN = new Set([...AGENT_SETTINGS, ...DOCKER_SETTINGS]);

export interface ConfigFile {
  path: string;
  values: Record<string, string>;
}

/** Reads and parses the file; a ConfigError when it cannot be read. */
export function readConfigFile(path: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError([`  --config: cannot read ${path}: ${describeError(error)}`]);
  }
  return { path, values: parse(text) };
}

/** One problem line per name in the file that is not a setting. */
export function unknownSettings(file: ConfigFile): string[] {
  return Object.keys(file.values)
    .filter((name) => !KNOWN.has(name))
    .map((name) => `  ${name} (in ${file.path}): not a setting of the agent`);
}

/**
 * Puts the file's values into `env` where the environment sets nothing (an empty variable counts as unset, as in
 * config.ts). Returns the names the environment overrode, for the operator who wonders why a line seems ignored.
 */
export function applyConfigFile(file: ConfigFile, env: NodeJS.ProcessEnv): string[] {
  const overridden: string[] = [];
  for (const [name, value] of Object.entries(file.values)) {
    const current = env[name];
    if (current === undefined || current === "") env[name] = value;
    else if (current !== value) overridden.push(name);
  }
  return overridden;
}
