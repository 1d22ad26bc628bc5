/**
 * `dockify build`'s flags as the API's build request (README, `POST
 * /v1/builds`; the build options' contract): the first `-t` names the image
 * (registry, user_name, repo, tag), the others are `also_push`; build
 * options go in the query string only when given, so a build without them
 * asks nothing of the Worker that an older one does not know; logins and
 * secrets go only in headers, as base64url JSON.
 */
import { readFileSync } from "node:fs";
import { describeError } from "../agent/errors";
import { encodeHeaderJson, LOGINS_HEADER, PASSWORD_HEADER, SECRETS_HEADER } from "../shared/api";
import { parseReference } from "../shared/reference";
import { CliError, EXIT_USAGE } from "./errors";
import type { RegistryLogin } from "./credentials";


/** The image a build pushes, as the API names it. */
export interface PushTarget {
  registry: string;
  user_name: string;
  repo: string;
  tag: string;
  /** As the user wrote it. */
  reference: string;
}

export interface BuildFlags {
  tag: string[];
  buildArg: string[];
  target?: string;
  platform?: string;
  noCache: boolean;
  secret: string[];
  label: string[];
}

function usage(message: string): CliError {
  return new CliError(message, EXIT_USAGE);
}

/**
 * `-t REF` as the push target: a registry, a user or organisation, a repository and a tag, no digest. Read with the
 * API's own reference grammar (the one the Worker reads `also_push` with), so every `-t` means to the CLI what it
 * means to the Worker.
 */
export function pushTarget(reference: string): PushTarget {
  if (reference.includes("@")) throw usage(`-t ${reference}: a reference to push names a tag, not a digest`);
  const parsed = parseReference(reference);
  if ("error" in parsed) throw usage(`-t ${reference}: not a valid image reference: ${parsed.error}`);
  const { registry, path, tag } = parsed.image;
  const [userName, ...rest] = path.split("/");
  if (rest.length === 0 || userName === "library") {
    throw usage(`-t ${reference}: name the user or organisation it goes under, e.g. alice/${rest.at(-1) ?? path}:${tag} or registry.example.com/alice/web:1`);
  }
  return { registry, user_name: userName!, repo: rest.join("/"), tag, reference };
}

/** `--build-arg K=V`; a bare `K` takes K's value from the environment, and is left out when it has none (as docker build does). */
export function buildArgs(args: readonly string[], env: NodeJS.ProcessEnv): string[] {
  return args.flatMap((arg) => {
    if (arg.includes("=")) return [arg];
    const value = env[arg];
    return value === undefined ? [] : [`${arg}=${value}`];
  });
}

/**
 * `--secret id=ID,src=FILE` (also `source=`), `--secret id=ID,env=VAR`, or `--secret id=ID` (the variable ID), as
 * docker buildx takes them: id → value.
 */
export function readSecrets(specs: readonly string[], env: NodeJS.ProcessEnv): Record<string, string> {
  const secrets: Record<string, string> = {};
  for (const spec of specs) {
    const fields = new Map<string, string>();
    for (const part of spec.split(",")) {
      const eq = part.indexOf("=");
      if (eq <= 0) throw usage(`--secret ${spec}: each part is key=value (id=…, src=… or env=…)`);
      fields.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1));
    }
    const id = fields.get("id");
    if (!id) throw usage(`--secret ${spec}: id=… is required`);
    if (id in secrets) throw usage(`--secret: id ${id} is given twice`);
    const file = fields.get("src") ?? fields.get("source");
    const type = fields.get("type");
    if (type !== undefined && type !== "file" && type !== "env") throw usage(`--secret ${spec}: type must be file or env`);
    const variable = fields.get("env") ?? (file === undefined ? id : undefined);
    if (file !== undefined && fields.has("env")) throw usage(`--secret ${spec}: give src or env, not both`);
    if (file !== undefined) {
      try {
        secrets[id] = readFileSync(file, "utf8");
      } catch (error) {
        throw usage(`--secret ${id}: cannot read ${file}: ${describeError(error)}`);
      }
    } else {
      const value = env[variable!];
      if (value === undefined) throw usage(`--secret ${id}: the environment variable ${variable} is not set`);
      secrets[id] = value;
    }
  }
  return secrets;
}

export interface BuildRequestParts {
  target: PushTarget;
  /** Query parameters in order; a name may repeat. */
  query: [string, string][];
  /** Headers carrying secrets: never printed. */
  headers: Record<string, string>;
}

export interface BuildRequestInputs {
  flags: BuildFlags;
  /** The Dockerfile's path inside the context; `Dockerfile` is the default and is not sent. */
  dockerfile: string;
  pushLogin: RegistryLogin | undefined;
  /** Host → login for the other registries. */
  otherLogins: ReadonlyMap<string, RegistryLogin>;
  secrets: Record<string, string>;
  env: NodeJS.ProcessEnv;
}

export function buildRequest({ flags, dockerfile, pushLogin, otherLogins, secrets, env }: BuildRequestInputs): BuildRequestParts {
  const [first, ...more] = flags.tag;
  if (first === undefined) throw usage("name the image to push with -t REF (e.g. -t registry.example.com/alice/web:1)");
  const target = pushTarget(first);
  for (const reference of more) pushTarget(reference);
  const query: [string, string][] = [
    ["user_name", target.user_name],
    ["repo", target.repo],
    ["tag", target.tag],
    ["registry", target.registry],
  ];
  if (flags.label.length > 0) query.push(["labels", flags.label.join(",")]);
  for (const arg of buildArgs(flags.buildArg, env)) query.push(["build_arg", arg]);
  if (flags.target !== undefined) query.push(["target", flags.target]);
  if (flags.noCache) query.push(["no_cache", "true"]);
  if (flags.platform !== undefined) query.push(["platform", flags.platform]);
  for (const reference of more) query.push(["also_push", reference]);
  if (dockerfile !== "Dockerfile") query.push(["dockerfile", dockerfile]);

  const headers: Record<string, string> = {};
  if (pushLogin) headers[PASSWORD_HEADER] = pushLogin.password;
  if (otherLogins.size > 0) {
    headers[LOGINS_HEADER] = encodeHeaderJson(Object.fromEntries([...otherLogins].map(([host, { username, password }]) => [host, { username, password }])));
  }
  if (Object.keys(secrets).length > 0) headers[SECRETS_HEADER] = encodeHeaderJson(secrets);
  return { target, query, headers };
}
