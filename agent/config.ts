/**
 * The agent's settings, from the environment. Docker itself is configured the
 * way the Docker CLI is: dockerode reads DOCKER_HOST (unix://, tcp://, ssh://),
 * DOCKER_TLS_VERIFY and DOCKER_CERT_PATH on its own.
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { z } from "zod";
import { formatByteSize, parseByteSize } from "../shared/byte-size";
import { parseLabels, type Labels } from "../shared/labels";
import { MAX_CONCURRENCY } from "../shared/protocol";
import { MAX_TIMER_SECONDS } from "../shared/timers";
import type { BuildIsolation } from "./build-isolation";

export interface AgentConfig {
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
}

export class ConfigError extends Error {}

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

const HOST_NETWORK = "host";
const HOST_NETWORK_REFUSED =
  `"${HOST_NETWORK}" gives RUN steps the build host's own network, including services that listen only on its localhost ` +
  "(a Docker API on tcp://127.0.0.1, say); set DOCKIFY_AGENT_ALLOW_HOST_NETWORK=true as well if you mean it";

/** `k=v,k=v` into labels, by the same rules the Worker applies to a build's labels. */
function labelsFromText(text: string, ctx: z.RefinementCtx<string>): Labels {
  const parsed = parseLabels(text);
  if ("labels" in parsed) return parsed.labels;
  ctx.issues.push({ code: "custom", input: text, message: parsed.error });
  return {};
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
  DOCKIFY_AGENT_TOKEN: z.string({ error: "is required" }).min(1, "is required"),
  DOCKIFY_AGENT_NAME: z.string().max(100, "must be at most 100 characters").default(() => hostname()),
  DOCKIFY_AGENT_CONCURRENCY: z.coerce
    .number()
    .int("must be a whole number")
    .min(1, "must be at least 1")
    .max(MAX_CONCURRENCY, `must be at most ${MAX_CONCURRENCY}`)
    .default(1),
  DOCKIFY_AGENT_LABELS: z.string().default("").transform(labelsFromText),
  DOCKIFY_AGENT_DRAIN_SECONDS: z.coerce.number().min(0, "must not be negative").default(600),
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
});

const HOST_NETWORK_SETTINGS: readonly PropertyKey[] = ["DOCKIFY_AGENT_BUILD_NETWORK", "DOCKIFY_AGENT_ALLOW_HOST_NETWORK"];

/** The host network is a choice an operator makes on purpose, never by a typo or a copied example. */
const envSchema = envFields.superRefine(
  (settings, ctx) => {
    if (settings.DOCKIFY_AGENT_BUILD_NETWORK === HOST_NETWORK && !settings.DOCKIFY_AGENT_ALLOW_HOST_NETWORK) {
      ctx.issues.push({ code: "custom", input: HOST_NETWORK, path: ["DOCKIFY_AGENT_BUILD_NETWORK"], message: HOST_NETWORK_REFUSED });
    }
  },
  // Zod skips object checks after any field fails; this one needs only its two fields, so it is reported with the rest.
  { when: (payload) => !payload.issues.some((issue) => HOST_NETWORK_SETTINGS.includes(issue.path?.[0] ?? "")) },
);

/** Reads the agent's settings; throws a ConfigError naming every variable that is wrong. */
export function loadConfig(env: NodeJS.ProcessEnv): AgentConfig {
  // An empty variable (a common leftover in compose files and unit files) means "not set".
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ""));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `  ${issue.path.join(".")}: ${issue.message}`);
    throw new ConfigError(`invalid agent configuration:\n${problems.join("\n")}`);
  }
  const settings = parsed.data;
  const workerUrl = settings.DOCKIFY_URL.replace(/\/+$/, "");
  return {
    workerUrl,
    connectUrl: `${workerUrl.replace(/^http/, "ws")}${CONNECT_PATH}`,
    token: settings.DOCKIFY_AGENT_TOKEN,
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
  };
}
