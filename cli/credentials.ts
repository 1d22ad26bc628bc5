/**
 * Registry logins for a build, found where a Docker user keeps them, and sent
 * only in headers (never a URL, an argument or the output):
 *
 * - the push registry's password: `--password-stdin`, else
 *   `DOCKIFY_REGISTRY_PASSWORD`, else the Docker CLI's config for that host;
 * - every other registry the build pulls from (the images its Dockerfile
 *   names) or pushes to (more `-t` references): the Docker CLI's config.
 *
 * The Docker CLI's config is `$DOCKER_CONFIG/config.json`, else
 * `~/.docker/config.json`: its `auths` (base64 `user:password` in `auth`, or
 * `username` and `password`), and the credential helpers it names
 * (`credHelpers` per host, else `credsStore`), run as Docker runs them
 * (`docker-credential-<name> get`, the server on stdin).
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { describeError } from "../agent/errors";
import { registryKey } from "../shared/reference";
import { authServerAddress, DOCKER_HUB } from "../shared/reference";
import { CliError } from "./errors";

export const PASSWORD_ENV = "DOCKIFY_REGISTRY_PASSWORD";

export interface RegistryLogin {
  username: string;
  password: string;
  /** Where it was found, for messages (never the secret): `--password-stdin`, `~/.docker/config.json`, … */
  source: string;
}

const dockerConfigSchema = z.looseObject({
  auths: z.record(z.string(), z.looseObject({ auth: z.string().optional(), username: z.string().optional(), password: z.string().optional() })).optional(),
  credsStore: z.string().optional(),
  credHelpers: z.record(z.string(), z.string()).optional(),
});
type DockerConfig = z.infer<typeof dockerConfigSchema>;

/** Runs a credential helper; its JSON answer, or null when it has nothing for the server. */
export type HelperRunner = (helper: string, server: string) => { Username: string; Secret: string } | null;

/** `docker-credential-<helper> get` with the server on stdin, as the Docker CLI calls it. */
export const runCredentialHelper: HelperRunner = (helper, server) => {
  const result = spawnSync(`docker-credential-${helper}`, ["get"], { input: server, encoding: "utf8", timeout: 30_000 });
  if (result.error) throw new CliError(`the Docker credential helper docker-credential-${helper} (from your Docker config) could not run: ${describeError(result.error)}`);
  // Helpers answer "credentials not found in native keychain" with a failure exit code: no login for that host.
  if (result.status !== 0) return null;
  const parsed = z.object({ Username: z.string(), Secret: z.string() }).safeParse(JSON.parse(result.stdout));
  return parsed.success ? parsed.data : null;
};

export class DockerConfigLogins {
  readonly path: string;
  readonly #config: DockerConfig;
  readonly #runHelper: HelperRunner;

  constructor(env: NodeJS.ProcessEnv, runHelper: HelperRunner = runCredentialHelper) {
    this.path = join(env.DOCKER_CONFIG || join(homedir(), ".docker"), "config.json");
    this.#runHelper = runHelper;
    this.#config = {};
    if (!existsSync(this.path)) return;
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(this.path, "utf8"));
    } catch (error) {
      throw new CliError(`cannot read your Docker config ${this.path}: ${describeError(error)}`);
    }
    const parsed = dockerConfigSchema.safeParse(json);
    if (!parsed.success) throw new CliError(`your Docker config ${this.path} is not what the Docker CLI writes: ${parsed.error.issues[0]?.message}`);
    this.#config = parsed.data;
  }

  /** The login for a registry host (`docker.io` for Hub), or undefined when the config has none. */
  for(host: string): RegistryLogin | undefined {
    const key = registryKey(host);
    const helper = Object.entries(this.#config.credHelpers ?? {}).find(([server]) => registryKey(server) === key)?.[1] ?? this.#config.credsStore;
    if (helper) {
      // The helper is asked with the server name Docker itself uses (Hub's is its old index URL).
      const found = this.#runHelper(helper, key === DOCKER_HUB ? authServerAddress(DOCKER_HUB) : host);
      // A username of "<token>" marks an identity token, which a registry takes only through its token service.
      if (found && found.Username !== "<token>") return { username: found.Username, password: found.Secret, source: `docker-credential-${helper}` };
    }
    const entry = Object.entries(this.#config.auths ?? {}).find(([server]) => registryKey(server) === key)?.[1];
    if (!entry) return undefined;
    if (entry.username !== undefined && entry.password !== undefined) return { username: entry.username, password: entry.password, source: this.path };
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), source: this.path };
    }
    return undefined;
  }
}

export interface PushLoginSources {
  /** What `--password-stdin` read, if given. */
  passwordStdin?: string;
  env: NodeJS.ProcessEnv;
  dockerConfig: DockerConfigLogins;
}

/**
 * The password for the push registry, whose login name is the reference's first path component (the API's
 * `user_name`); undefined: push without a login. A Docker login for that host under another name is refused with
 * the reason, since the Worker would log in with the wrong name.
 */
export function pushLogin(registry: string, userName: string, sources: PushLoginSources): RegistryLogin | undefined {
  if (sources.passwordStdin !== undefined) return { username: userName, password: sources.passwordStdin, source: "--password-stdin" };
  const fromEnv = sources.env[PASSWORD_ENV];
  if (fromEnv) return { username: userName, password: fromEnv, source: PASSWORD_ENV };
  const found = sources.dockerConfig.for(registry);
  if (found && found.username !== userName) {
    throw new CliError(
      `your Docker login for ${registry} (${found.source}) is user '${found.username}', but Dockify logs in to the push registry as the ` +
        `reference's first path component, '${userName}': push under ${found.username}/…, or give ${userName}'s password with --password-stdin or ${PASSWORD_ENV}`,
    );
  }
  return found;
}

/** Reads the password from stdin, as `docker login --password-stdin` does: one line, its line break dropped. */
export async function readPasswordStdin(stdin: NodeJS.ReadableStream = process.stdin): Promise<string> {
  if ((stdin as { isTTY?: boolean }).isTTY) throw new CliError("--password-stdin reads the password from standard input: pipe it in (e.g. from a file or a secret manager)");
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(Buffer.from(chunk as Buffer));
  const password = Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
  if (password === "") throw new CliError("--password-stdin: standard input was empty");
  return password;
}
