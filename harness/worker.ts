/**
 * The Worker under `wrangler dev` on a free 127.0.0.1 port, with its own persist
 * dir. Secrets reach it through a temp env file (`--env-file`), so they are in
 * neither argv nor the repo's `.dev.vars` (which wrangler then ignores).
 */
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { baseEnv, ManagedProcess } from "./managed-process";
import { freePort, LOOPBACK, lostPortRace } from "./ports";
import { REPO_ROOT, tempDir } from "./run-dir";
import { waitForUrl } from "./wait-for-url";

const WRANGLER = join(REPO_ROOT, "node_modules", ".bin", "wrangler");
const READY_TIMEOUT_MS = 90_000;
const START_ATTEMPTS = 3;

export interface WorkerOptions {
  /** Secrets and variables (override `[vars]` of wrangler.toml), e.g. DOCKIFY_API_TOKENS. */
  vars?: Record<string, string>;
  /** Another wrangler config, for trying the harness itself; the repo's wrangler.toml by default. */
  configPath?: string;
  /** Reuse a persist dir (state from an earlier worker); a fresh one by default. */
  persistDir?: string;
}

export interface WorkerHandle {
  /** `http://127.0.0.1:PORT`, no trailing slash. */
  url: string;
  port: number;
  persistDir: string;
  /** The current wrangler process (a new one after `restart()`). */
  readonly process: ManagedProcess;
  /** Everything every wrangler run of this handle printed, restarts included. */
  output(): string;
  stop(): Promise<void>;
  /**
   * Stops wrangler and starts it again on the same port with the same persist dir
   * and vars. `hard` kills it with SIGKILL first, like a crash, instead of SIGTERM.
   * `vars` changes or adds variables from then on, as a redeploy with new ones would.
   */
  restart(options?: { hard?: boolean; vars?: Record<string, string> }): Promise<void>;
}

/**
 * One dotenv line. Single quotes keep `#` and `\` literal; wrangler still runs
 * dotenv-expand over them, which leaves `\$` as a literal `$`.
 */
function envFileLine(key: string, value: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new Error(`invalid variable name ${JSON.stringify(key)}`);
  if (/['\n\r]/.test(value)) throw new Error(`the value of ${key} cannot hold a single quote or a newline`);
  return `${key}='${value.replaceAll("$", "\\$")}'\n`;
}

function wranglerEnv(logDir: string): NodeJS.ProcessEnv {
  return {
    ...baseEnv(/^(DOCKIFY_|CLOUDFLARE_|WRANGLER_|DEBUG$)/),
    // Only our env file becomes the Worker's secrets: not the test runner's environment, not .env/.dev.vars.
    CLOUDFLARE_INCLUDE_PROCESS_ENV: "false",
    CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV: "true",
    WRANGLER_SEND_METRICS: "false",
    // No fetch of the Request.cf object from workers.cloudflare.com: loopback only.
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
    WRANGLER_LOG_PATH: logDir,
    // Plain lines in the log instead of the interactive hotkeys bar.
    CI: "true",
    NO_COLOR: "1",
    FORCE_COLOR: "0",
  };
}

async function launch(port: number, dir: string, envFile: string, options: WorkerOptions, persistDir: string) {
  const configPath = resolve(options.configPath ?? join(REPO_ROOT, "wrangler.toml"));
  const inspectorPort = await freePort();
  const child = ManagedProcess.spawn({
    name: "wrangler",
    command: WRANGLER,
    args: [
      "dev",
      "--config", configPath,
      "--env-file", envFile,
      "--ip", LOOPBACK,
      "--port", String(port),
      "--inspector-ip", LOOPBACK,
      "--inspector-port", String(inspectorPort),
      "--persist-to", persistDir,
      "--local",
      "--show-interactive-dev-session=false",
    ],
    cwd: REPO_ROOT,
    env: wranglerEnv(join(dir, "wrangler-logs")),
  });
  try {
    // Wrangler's proxy holds requests until the Worker is loaded, so any answer on / means ready;
    // its "Ready on" line proves the answer came from this wrangler, not from whoever won a port race.
    await Promise.all([
      child.waitForLine(`Ready on http://${LOOPBACK}:${port}`, { timeoutMs: READY_TIMEOUT_MS }),
      waitForUrl(`http://${LOOPBACK}:${port}/`, { timeoutMs: READY_TIMEOUT_MS, process: child }),
    ]);
    return child;
  } catch (error) {
    await child.stop(2_000);
    throw Object.assign(error as Error, { lostPortRace: lostPortRace(child) });
  }
}

export async function startWorker(options: WorkerOptions = {}): Promise<WorkerHandle> {
  const dir = tempDir("worker");
  const persistDir = options.persistDir ?? join(dir, "state");
  const envFile = join(dir, "secrets.env");
  let vars = options.vars ?? {};
  const writeEnvFile = () =>
    writeFileSync(
      envFile,
      Object.entries(vars)
        .map(([key, value]) => envFileLine(key, value))
        .join(""),
      { mode: 0o600 },
    );
  writeEnvFile();

  let port = 0;
  let current: ManagedProcess | undefined;
  for (let attempt = 1; current === undefined; attempt++) {
    port = await freePort();
    try {
      current = await launch(port, dir, envFile, options, persistDir);
    } catch (error) {
      if (attempt >= START_ATTEMPTS || !(error as { lostPortRace?: boolean }).lostPortRace) throw error;
    }
  }

  const runs: ManagedProcess[] = [current];
  const handle: WorkerHandle = {
    url: `http://${LOOPBACK}:${port}`,
    port,
    persistDir,
    get process() {
      return runs[runs.length - 1]!;
    },
    output: () => runs.map((run) => run.output()).join("\n"),
    stop: async () => {
      await handle.process.stop(10_000);
    },
    restart: async ({ hard = false, vars: changed } = {}) => {
      if (hard) handle.process.kill("SIGKILL");
      await handle.process.stop(10_000);
      if (changed) {
        vars = { ...vars, ...changed };
        writeEnvFile();
      }
      // Same port: agents reconnect to the URL they know. It was just released, so a clash is unlikely.
      runs.push(await launch(port, dir, envFile, options, persistDir));
    },
  };
  return handle;
}
