/**
 * The agent's settings, from the environment (or a file under it: cli/config-file.ts).
 * Docker itself is configured the way the Docker CLI is: dockerode reads DOCKER_HOST (unix://, tcp://, ssh://),
 * DOCKER_TLS_VERIFY and DOCKER_CERT_PATH on its own.
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { z } from "zod";
import { formatByteSize, parseByteSize } from "../shared/byte-size";
import { parseLabels, type Labels } from "../shared/labels";
import { BUILDERS, MAX_CONCURRENCY, type BuilderName } from "../shared/protocol";
import { MAX_TIMER_SECONDS } from "../shared/timers";
import type { BuildIsolation } from "./build-isolation";
import { MIN_CACHE_BYTES } from "./builders/buildkit/cache";
import { AllowedFrontends } from "./images/frontends";
import { checkHostSettings, HOST_SETTINGS, hostConfig, hostFields, type HostConfig } from "./host/settings";
import { readTokenFile, type TokenFileRead } from "./token-file";

export interface AgentConfig extends HostConfig {
  /** The Worker's base URL, without a trailing slash: contexts are fetched from here. */
  workerUrl: string;
  /** The WebSocket the agent connects to. */
  connectUrl: string;
  token: string;
  name: string;
  version: string;
  concurrency: number;
  labels: Labels;
  drainMs: number;
  /** What RUN steps get: network, memory and CPUs. */
  isolation: BuildIsolation;
  /** Wall-clock limit for one job: context download, build and push. */
  buildTimeoutSeconds: number;
  /** The builder the operator asked for; undefined: BuildKit where the Engine has it (engine.ts). */
  builder: BuilderName | undefined;
  /** The bound on the Engine's BuildKit cache, pruned after each build. */
  cacheBytes: number;
  /** The `# syntax=` frontends builds may run; none unless the operator names them. */
  frontends: AllowedFrontends;
}

export class ConfigError extends Error {
  /** One line per problem, `  VARIABLE: what is wrong`, so problems found elsewhere can be reported with these. */
  constructor(readonly problems: string[]) {
    super(`invalid agent configuration:\n${problems.join("\n")}`);
  }
}

const CONNECT_PATH = "/agent/connect";

export const AGENT_VERSION: string = (
  JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
).version;

/** Docker refuses a smaller memory limit ("Minimum memory limit allowed is 6MB"). */
const MIN_MEMORY_BYTES = 6 * 1024 ** 2;
/** The kernel's smallest CFS quota is 1 ms of Docker's 100 ms period. */
const MIN_CPUS = 0.01;
/** An hour covers ordinary builds; an operator with longer ones raises it. */
const DEFAULT_TIMEOUT_SECONDS = 3600;
/**
 * Enough for the warm cache (layers, cache mounts, contexts) of dozens of typical projects, and a small share of a
 * build host's disk, which its images and containers need too. A host with a big disk and many projects raises it.
 */
const DEFAULT_CACHE_BYTES = "10g";
/** The network modes BuildKit's RUN steps support; `bridge` is its default network. */
const BUILDKIT_NETWORKS: ReadonlySet<string> = new Set(["bridge", "none", "host"]);

const HOST_NETWORK = "host";
const HOST_NETWORK_REFUSED =
  `"${HOST_NETWORK}" gives RUN steps the build host's own network, including services that listen only on its localhost ` +
  "(a Docker API on tcp://127.0.0.1, say); set DOCKIFY_AGENT_ALLOW_HOST_NETWORK=true as well if you mean it";

/** A size for the build cache, never one that would empty it. */
function cacheBytesFromText(text: string, ctx: z.RefinementCtx<string>): number {
  const bytes = parseByteSize(text);
  if (bytes === undefined || bytes < MIN_CACHE_BYTES) {
    ctx.issues.push({
      code: "custom",
      input: text,
      message: `must be a size such as 10g or 512m (k, m, g: KiB, MiB, GiB; plain digits: bytes) of at least ${formatByteSize(MIN_CACHE_BYTES)}`,
    });
  }
  return bytes ?? 0;
}

/**
 * What BuildKit would not do of what the operator set: it ignores memory and CPU limits on RUN steps (the Engine
 * accepts them and applies nothing) and runs them only on its default network, `none` or `host`. Each problem is
 * keyed by its variable, with the fix.
 */
export function buildkitProblems(isolation: BuildIsolation): Array<{ variable: string; message: string }> {
  const useClassic = "or set DOCKIFY_AGENT_BUILDER=classic to keep it";
  const problems: Array<{ variable: string; message: string }> = [];
  if (isolation.memoryBytes !== undefined) {
    problems.push({ variable: "DOCKIFY_AGENT_BUILD_MEMORY", message: `BuildKit does not limit a RUN step's memory: unset it, ${useClassic}` });
  }
  if (isolation.cpus !== undefined) {
    problems.push({ variable: "DOCKIFY_AGENT_BUILD_CPUS", message: `BuildKit does not limit a RUN step's CPUs: unset it, ${useClassic}` });
  }
  if (isolation.network !== undefined && !BUILDKIT_NETWORKS.has(isolation.network)) {
    problems.push({
      variable: "DOCKIFY_AGENT_BUILD_NETWORK",
      message: `BuildKit runs RUN steps only on its default network (the Engine's bridge), none or host, not on "${isolation.network}": use one of those, ${useClassic}`,
    });
  }
  return problems;
}

function tokenFromFile(path: string, ctx: z.RefinementCtx<string>): TokenFileRead {
  const read = readTokenFile(path);
  if ("error" in read) ctx.issues.push({ code: "custom", input: path, message: read.error });
  return read;
}

/** `k=v,k=v` into labels, by the same rules the Worker applies to a build's labels. */
function labelsFromText(text: string, ctx: z.RefinementCtx<string>): Labels {
  const parsed = parseLabels(text);
  if ("labels" in parsed) return parsed.labels;
  ctx.issues.push({ code: "custom", input: text, message: parsed.error });
  return {};
}

/** The frontends the operator allows, each pinned by digest. */
function frontendsFromText(text: string, ctx: z.RefinementCtx<string>): AllowedFrontends {
  const parsed = AllowedFrontends.parse(text);
  if (parsed instanceof AllowedFrontends) return parsed;
  for (const message of parsed.errors) ctx.issues.push({ code: "custom", input: text, message });
  return AllowedFrontends.NONE;
}

/** A `docker run -m` size into bytes, refusing what Docker itself would refuse at the first RUN step. */
function memoryFromText(text: string, ctx: z.RefinementCtx<string>): number {
  const bytes = parseByteSize(text);
  if (bytes === undefined || bytes < MIN_MEMORY_BYTES) {
    ctx.issues.push({
      code: "custom",
      input: text,
      message: `must be a size such as 512m or 2g (k, m, g: KiB, MiB, GiB; plain digits: bytes) of at least ${formatByteSize(MIN_MEMORY_BYTES)}, Docker's minimum`,
    });
  }
  return bytes ?? 0;
}

const envFields = z.object({
  DOCKIFY_URL: z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL, e.g. http://127.0.0.1:8787" }),
  // One of these two is required (checked below).
  DOCKIFY_AGENT_TOKEN: z.string().optional(),
  DOCKIFY_AGENT_TOKEN_FILE: z.string().transform(tokenFromFile).optional(),
  DOCKIFY_AGENT_NAME: z.string().max(100, "must be at most 100 characters").default(() => hostname()),
  DOCKIFY_AGENT_CONCURRENCY: z.coerce
    .number()
    .int("must be a whole number")
    .min(1, "must be at least 1")
    .max(MAX_CONCURRENCY, `must be at most ${MAX_CONCURRENCY}`)
    .default(1),
  DOCKIFY_AGENT_LABELS: z.string().default("").transform(labelsFromText),
  DOCKIFY_AGENT_DRAIN_SECONDS: z.coerce.number().min(0, "must not be negative").default(600),
  ...hostFields,
  // No colon: `container:<id>` would put RUN steps into another container's network namespace.
  DOCKIFY_AGENT_BUILD_NETWORK: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "must be a network mode (bridge, host, none) or a Docker network's name")
    .optional(),
  DOCKIFY_AGENT_ALLOW_HOST_NETWORK: z
    .enum(["true", "false"], { error: 'must be "true" or "false"' })
    .default("false")
    .transform((text) => text === "true"),
  DOCKIFY_AGENT_BUILD_MEMORY: z.string().transform(memoryFromText).optional(),
  DOCKIFY_AGENT_BUILD_CPUS: z.coerce
    .number({ error: "must be a number of CPUs, e.g. 1.5" })
    .min(MIN_CPUS, `must be at least ${MIN_CPUS}`)
    .optional(),
  DOCKIFY_AGENT_BUILD_TIMEOUT_SECONDS: z.coerce
    .number()
    .int("must be a whole number of seconds")
    .min(1, "must be at least 1")
    .max(MAX_TIMER_SECONDS, `must be at most ${MAX_TIMER_SECONDS}`)
    .default(DEFAULT_TIMEOUT_SECONDS),
  DOCKIFY_AGENT_BUILDER: z.enum(BUILDERS, { error: `must be ${BUILDERS.join(" or ")} (unset: BuildKit where the Engine has it)` }).optional(),
  DOCKIFY_AGENT_CACHE_BYTES: z.string().default(DEFAULT_CACHE_BYTES).transform(cacheBytesFromText),
  // None by default: a `# syntax=` frontend is code that writes the build itself, past the agent's image check and its
  // per-tenant cache-mount namespace (images/frontends.ts). Pinned by digest, so the code vetted is the code that runs.
  DOCKIFY_AGENT_FRONTENDS: z.string().default("").transform(frontendsFromText),
});

const HOST_NETWORK_SETTINGS: readonly PropertyKey[] = ["DOCKIFY_AGENT_BUILD_NETWORK", "DOCKIFY_AGENT_ALLOW_HOST_NETWORK"];

const TOKEN_SETTINGS: readonly PropertyKey[] = ["DOCKIFY_AGENT_TOKEN", "DOCKIFY_AGENT_TOKEN_FILE"];

const BUILDKIT_SETTINGS: readonly PropertyKey[] = [
  "DOCKIFY_AGENT_BUILDER",
  "DOCKIFY_AGENT_BUILD_NETWORK",
  "DOCKIFY_AGENT_BUILD_MEMORY",
  "DOCKIFY_AGENT_BUILD_CPUS",
];

/** Zod skips object checks after any field fails; each of these needs only a few fields, so it is reported with the rest. */
const unlessFailed = (fields: readonly PropertyKey[]) => ({
  when: (payload: z.core.ParsePayload) => !payload.issues.some((issue) => fields.includes(issue.path?.[0] ?? "")),
});

const envSchema = envFields
  // The host network is a choice an operator makes on purpose, never by a typo or a copied example.
  .superRefine((settings, ctx) => {
    if (settings.DOCKIFY_AGENT_BUILD_NETWORK === HOST_NETWORK && !settings.DOCKIFY_AGENT_ALLOW_HOST_NETWORK) {
      ctx.issues.push({ code: "custom", input: HOST_NETWORK, path: ["DOCKIFY_AGENT_BUILD_NETWORK"], message: HOST_NETWORK_REFUSED });
    }
  }, unlessFailed(HOST_NETWORK_SETTINGS))
  // A limit the chosen builder would not enforce is refused, not kept for show.
  .superRefine((settings, ctx) => {
    if (settings.DOCKIFY_AGENT_BUILDER !== "buildkit") return;
    const isolation = {
      network: settings.DOCKIFY_AGENT_BUILD_NETWORK,
      memoryBytes: settings.DOCKIFY_AGENT_BUILD_MEMORY,
      cpus: settings.DOCKIFY_AGENT_BUILD_CPUS,
    };
    for (const { variable, message } of buildkitProblems(isolation)) ctx.issues.push({ code: "custom", input: undefined, path: [variable], message });
  }, unlessFailed(BUILDKIT_SETTINGS))
  // One place for the token: with two, the operator could not tell which one the agent uses.
  .superRefine(({ DOCKIFY_AGENT_TOKEN: token, DOCKIFY_AGENT_TOKEN_FILE: file }, ctx) => {
    const problem =
      token !== undefined && file !== undefined ? "set it or DOCKIFY_AGENT_TOKEN_FILE, not both"
      : token === undefined && file === undefined ? "is required (or DOCKIFY_AGENT_TOKEN_FILE, a file holding it)"
      : undefined;
    if (problem) ctx.issues.push({ code: "custom", input: token, path: ["DOCKIFY_AGENT_TOKEN"], message: problem });
  }, unlessFailed(TOKEN_SETTINGS))
  .superRefine(checkHostSettings, unlessFailed(HOST_SETTINGS));

/** Every setting's name, so a config file can be checked to name only these. */
export const AGENT_SETTINGS: readonly string[] = Object.keys(envFields.shape);

/**
 * Reads the agent's settings; throws a ConfigError naming every variable that is wrong. `warn` hears what is taken
 * but worth the operator's attention (a token file its group can read).
 */
export function loadConfig(env: NodeJS.ProcessEnv, warn: (line: string) => void = () => {}): AgentConfig {
  // An empty variable (a common leftover in compose files and unit files) means "not set".
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ""));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    throw configError(parsed.error.issues.map((issue) => ({ variable: issue.path.join("."), message: issue.message })));
  }
  const settings = parsed.data;
  const tokenFile = settings.DOCKIFY_AGENT_TOKEN_FILE;
  if (tokenFile && "warning" in tokenFile && tokenFile.warning) warn(`DOCKIFY_AGENT_TOKEN_FILE: ${tokenFile.warning}`);
  const workerUrl = settings.DOCKIFY_URL.replace(/\/+$/, "");
  return {
    workerUrl,
    connectUrl: `${workerUrl.replace(/^http/, "ws")}${CONNECT_PATH}`,
    // The check above leaves exactly one of the two, and a file that was read.
    token: tokenFile && "token" in tokenFile ? tokenFile.token : settings.DOCKIFY_AGENT_TOKEN!,
    name: settings.DOCKIFY_AGENT_NAME || hostname(),
    version: AGENT_VERSION,
    concurrency: settings.DOCKIFY_AGENT_CONCURRENCY,
    labels: settings.DOCKIFY_AGENT_LABELS,
    drainMs: settings.DOCKIFY_AGENT_DRAIN_SECONDS * 1000,
    isolation: {
      network: settings.DOCKIFY_AGENT_BUILD_NETWORK,
      memoryBytes: settings.DOCKIFY_AGENT_BUILD_MEMORY,
      cpus: settings.DOCKIFY_AGENT_BUILD_CPUS,
    },
    buildTimeoutSeconds: settings.DOCKIFY_AGENT_BUILD_TIMEOUT_SECONDS,
    builder: settings.DOCKIFY_AGENT_BUILDER,
    cacheBytes: settings.DOCKIFY_AGENT_CACHE_BYTES,
    frontends: settings.DOCKIFY_AGENT_FRONTENDS,
    ...hostConfig(settings),
  };
}

/** Every problem in one error, one line each, as loadConfig reports them. */
export function configError(problems: Array<{ variable: string; message: string }>): ConfigError {
  return new ConfigError(problems.map(({ variable, message }) => `  ${variable}: ${message}`));
}
