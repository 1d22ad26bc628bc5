/**
 * The real build agent as a child process, its output captured: `node --import tsx agent/main.ts`, as `npm run agent`
 * runs it, or an installed `dockify-agent start` (harness/package.ts).
 */
import { baseEnv, ManagedProcess } from "./managed-process";
import { REPO_ROOT } from "./run-dir";

export interface AgentOptions {
  /** The Worker's base URL, e.g. `http://127.0.0.1:PORT`. */
  url: string;
  token: string;
  name?: string;
  concurrency?: number;
  /** Sent as DOCKIFY_AGENT_LABELS=`key=value,key=value`. */
  labels?: Record<string, string>;
  /** More environment for the agent; wins over the values above. */
  env?: Record<string, string>;
  /**
   * Run this command line instead of the repository's agent, e.g. `[installed bin, "start", "--config", file]`. Its
   * settings are then what the command line and `env` give it: `url`, `token`, `name` and the rest are not set.
   */
  command?: readonly [string, ...string[]];
}

/** `stop()` sends SIGTERM (the agent drains), `kill("SIGKILL")` simulates a crash; `output()` is all it printed. */
export type AgentProcess = ManagedProcess;

let agentCounter = 0;

export function startAgent(options: AgentOptions): AgentProcess {
  const name = options.name ?? `e2e-agent-${++agentCounter}`;
  const env: NodeJS.ProcessEnv = {
    // DEBUG=modem would print X-Registry-Auth; a test that wants it passes it in `env`.
    ...baseEnv(),
    DOCKIFY_URL: options.url,
    DOCKIFY_AGENT_TOKEN: options.token,
    DOCKIFY_AGENT_NAME: name,
  };
  if (options.concurrency !== undefined) env.DOCKIFY_AGENT_CONCURRENCY = String(options.concurrency);
  if (options.labels) {
    env.DOCKIFY_AGENT_LABELS = Object.entries(options.labels)
      .map(([key, value]) => `${key}=${value}`)
      .join(",");
  }
  Object.assign(env, options.env);
  if (options.command) {
    const [command, ...args] = options.command;
    return ManagedProcess.spawn({ name: `agent-${name}`, command, args, cwd: REPO_ROOT, env: { ...baseEnv(), ...options.env } });
  }
  // No tsx wrapper process: a signal reaches the agent once, as it would under a service manager.
  return ManagedProcess.spawn({ name: `agent-${name}`, command: process.execPath, args: ["--import", "tsx", "agent/main.ts"], cwd: REPO_ROOT, env });
}
