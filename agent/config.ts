/**
 * The agent's settings, from the environment. Docker itself is configured the
 * way the Docker CLI is: dockerode reads DOCKER_HOST (unix://, tcp://, ssh://),
 * DOCKER_TLS_VERIFY and DOCKER_CERT_PATH on its own.
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { z } from "zod";
import { parseLabels } from "../shared/labels.ts";
import type { Labels } from "../shared/protocol.ts";

export interface AgentConfig {
  /** The Worker's base URL, without a trailing slash: contexts are fetched from here. */
  poolUrl: string;
  /** The WebSocket the agent connects to. */
  connectUrl: string;
  token: string;
  name: string;
  version: string;
  concurrency: number;
  labels: Labels;
  drainMs: number;
  /** The network RUN steps use (`bridge`, `host`, `none` or a network's name); unset: the daemon's default. */
  buildNetwork: string | undefined;
}

export class ConfigError extends Error {}

const CONNECT_PATH = "/agent/connect";

export const AGENT_VERSION: string = (
  JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
).version;

/** `k=v,k=v` into labels, by the same rules the Worker applies to a build's labels. */
function labelsFromText(text: string, ctx: z.RefinementCtx<string>): Labels {
  const parsed = parseLabels(text);
  if ("labels" in parsed) return parsed.labels;
  ctx.issues.push({ code: "custom", input: text, message: parsed.error });
  return {};
}

const envSchema = z.object({
  DOCKIFY_URL: z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL, e.g. http://127.0.0.1:8787" }),
  DOCKIFY_AGENT_TOKEN: z.string({ error: "is required" }).min(1, "is required"),
  DOCKIFY_AGENT_NAME: z.string().max(100, "must be at most 100 characters").default(() => hostname()),
  DOCKIFY_AGENT_CONCURRENCY: z.coerce
    .number()
    .int("must be a whole number")
    .min(1, "must be at least 1")
    .max(64, "must be at most 64")
    .default(1),
  DOCKIFY_AGENT_LABELS: z.string().default("").transform(labelsFromText),
  DOCKIFY_AGENT_DRAIN_SECONDS: z.coerce.number().min(0, "must not be negative").default(600),
  DOCKIFY_AGENT_BUILD_NETWORK: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "must be a network mode (bridge, host, none) or a Docker network's name")
    .optional(),
});

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
  const poolUrl = settings.DOCKIFY_URL.replace(/\/+$/, "");
  return {
    poolUrl,
    connectUrl: `${poolUrl.replace(/^http/, "ws")}${CONNECT_PATH}`,
    token: settings.DOCKIFY_AGENT_TOKEN,
    name: settings.DOCKIFY_AGENT_NAME || hostname(),
    version: AGENT_VERSION,
    concurrency: settings.DOCKIFY_AGENT_CONCURRENCY,
    labels: settings.DOCKIFY_AGENT_LABELS,
    drainMs: settings.DOCKIFY_AGENT_DRAIN_SECONDS * 1000,
    buildNetwork: settings.DOCKIFY_AGENT_BUILD_NETWORK,
  };
}
