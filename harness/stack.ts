/**
 * One whole Dockify stack for a test file: a registry with a login, the Worker
 * under wrangler dev with random tokens and key, a local base image, agents,
 * and an API client bound to the Worker and the stack's own tenant.
 */
import { randomBytes } from "node:crypto";
import { startAgent, type AgentOptions, type AgentProcess } from "./agent";
import { ApiClient } from "./api";
import { buildBaseImage, pushImage, removeImage, tagImage } from "./docker";
import { runDir } from "./run-dir";
import { startRegistry, type Registry } from "./registry";
import { startWorker, type WorkerHandle } from "./worker";

export const BASE_IMAGE = "dockify-e2e-base:latest";

export interface StackSecrets {
  /** The tenant name the API token belongs to. */
  tenant: string;
  apiToken: string;
  agentToken: string;
  secretKey: string;
  registryUser: string;
  registryPassword: string;
}

export interface StackOptions {
  /** How many agents to start now (default 1); more can come from `stack.startAgent()`. */
  agents?: number;
  /** Options for those agents (url and token are filled in). */
  agent?: Omit<AgentOptions, "url" | "token">;
  /** Extra Worker variables, e.g. DOCKIFY_LEASE_SECONDS for fault tests. */
  vars?: Record<string, string>;
  /** More tenants, name → API token, beside the stack's own. */
  tenants?: Record<string, string>;
  /** More agent tokens, name → token, beside the stack's own (nameless) one; `startAgent({ token })` uses one. */
  agentTokens?: Record<string, string>;
  registryUser?: string;
  /** The registry login's password; a random one by default. */
  registryPassword?: string;
}

/** What `stack.startAgent` takes: the stack's own agent token unless `token` names another. */
export type StackAgentOptions = Omit<AgentOptions, "url" | "token"> & { token?: string };

export interface Stack {
  registry: Registry;
  worker: WorkerHandle;
  /** The public API as the stack's tenant (`secrets.apiToken`); `api.withToken()` for another. */
  api: ApiClient;
  /** The first agent (undefined when started with `agents: 0`). */
  agent: AgentProcess | undefined;
  agents: AgentProcess[];
  secrets: StackSecrets;
  /** Every secret value, for asserting that none appears in a log or a response. */
  secretValues: string[];
  /**
   * An image FROM scratch with busybox, for Dockerfiles to build on, in the stack's registry (its login pulls it):
   * agents build only FROM images a build's own credentials can pull, never a local one.
   */
  baseImage: string;
  /** Where every log of this run is. */
  runDir: string;
  /** Starts another agent against this Worker; `stop()` stops it too. */
  startAgent(options?: StackAgentOptions): AgentProcess;
  /** All output of the Worker (every restart) and of every agent. */
  allOutput(): string;
  stop(): Promise<void>;
}

function secret(bytes = 24): string {
  return randomBytes(bytes).toString("base64url");
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const secrets: StackSecrets = {
    tenant: "e2e",
    apiToken: `api-${secret()}`,
    agentToken: `agent-${secret()}`,
    secretKey: secret(36),
    registryUser: options.registryUser ?? "alice",
    registryPassword: options.registryPassword ?? `pw-${secret()}`,
  };
  const [registryResult, baseResult] = await Promise.allSettled([
    startRegistry({ users: { [secrets.registryUser]: secrets.registryPassword } }),
    buildBaseImage(BASE_IMAGE),
  ]);
  if (registryResult.status === "rejected") throw registryResult.reason;
  const registry = registryResult.value;
  let worker: WorkerHandle;
  const baseImage = `${registry.host}/dockify-e2e/base:latest`;
  try {
    if (baseResult.status === "rejected") throw baseResult.reason;
    await tagImage(BASE_IMAGE, baseImage);
    await pushImage(baseImage, { username: secrets.registryUser, password: secrets.registryPassword });
    worker = await startWorker({
      vars: {
        DOCKIFY_API_TOKENS: Object.entries({ ...options.tenants, [secrets.tenant]: secrets.apiToken })
          .map(([tenant, token]) => `${tenant}=${token}`)
          .join(","),
        DOCKIFY_AGENT_TOKENS: [secrets.agentToken, ...Object.entries(options.agentTokens ?? {}).map(([name, token]) => `${name}=${token}`)].join(","),
        DOCKIFY_SECRET_KEY: secrets.secretKey,
        // Webhook receivers in tests listen on loopback over plain http; never set by default (README, Webhooks).
        DOCKIFY_WEBHOOK_ALLOW_HTTP_LOOPBACK: "true",
        ...options.vars,
      },
    });
  } catch (error) {
    await removeImage(baseImage).catch(() => undefined);
    await registry.stop().catch(() => undefined);
    throw error;
  }

  const agents: AgentProcess[] = [];
  const startMore = (agentOptions: StackAgentOptions = {}) => {
    const agent = startAgent({ ...agentOptions, url: worker.url, token: agentOptions.token ?? secrets.agentToken });
    agents.push(agent);
    return agent;
  };
  const stop = async () => {
    // Agents first, so none sees its Worker vanish and starts reconnecting.
    const results: PromiseSettledResult<unknown>[] = await Promise.allSettled(agents.map((agent) => agent.stop()));
    results.push(...(await Promise.allSettled([worker.stop()])));
    results.push(...(await Promise.allSettled([registry.stop(), removeImage(baseImage)])));
    const failed = results.find((result): result is PromiseRejectedResult => result.status === "rejected");
    if (failed) throw failed.reason;
  };
  const count = options.agents ?? 1;
  for (let index = 0; index < count; index++) {
    const name = options.agent?.name;
    startMore({ ...options.agent, name: name && count > 1 ? `${name}-${index + 1}` : name });
  }

  return {
    registry,
    worker,
    api: new ApiClient(worker.url, secrets.apiToken),
    agent: agents[0],
    agents,
    secrets,
    secretValues: [
      secrets.apiToken,
      secrets.agentToken,
      secrets.secretKey,
      secrets.registryPassword,
      ...Object.values(options.tenants ?? {}),
      ...Object.values(options.agentTokens ?? {}),
    ],
    baseImage,
    runDir: runDir(),
    startAgent: startMore,
    allOutput: () => [worker.output(), ...agents.map((agent) => agent.output())].join("\n"),
    stop,
  };
}
