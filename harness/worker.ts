/**
 * The Worker under `wrangler dev` on a free 127.0.0.1 port, with its own persist
 * dir. Secrets reach it through a temp env file (`--env-file`), so they are in
 * neither argv nor the repo's `.dev.vars` (which wrangler then ignores).
 */
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { baseEnv, ManagedProcess } from "./managed-process";
import { processTree } from "./memory";
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
  /**
   * The Worker's own socket inside this wrangler dev, behind wrangler's dev proxy (the URL above). The proxy
   * answers a request whose body breaks off with its own 503 ("Your worker restarted mid-request") before the
   * Worker's answer can reach it; on this socket the client gets the Worker's answer, as it would in production.
   */
  workerSocketUrl(): Promise<string>;
}

/** TCP ports the processes listen on, read from /proc: their socket inodes, matched against the kernel's table. */
function listeningPorts(pids: readonly number[]): number[] {
  const inodes = new Set<string>();
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
        if (inode) inodes.add(inode);
      } catch {
        // closed meanwhile
      }
    }
  }
  const ports: number[] = [];
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    // local address "0100007F:1F90", state 0A = LISTEN, inode in the tenth column.
    if (fields[3] === "0A" && inodes.has(fields[9] ?? "")) ports.push(parseInt(fields[1]!.split(":")[1]!, 16));
  }
  return ports;
}

/** The listening port, other than the proxy's, whose GET / is the Worker's own answer (the seed's 418 pointer). */
async function findWorkerSocket(child: ManagedProcess, proxyPort: number): Promise<string> {
  for (const port of listeningPorts(processTree(child.pid)).filter((candidate) => candidate !== proxyPort)) {
    try {
      const response = await fetch(`http://${LOOPBACK}:${port}/`, { signal: AbortSignal.timeout(2_000) });
      if (response.status === 418 && (await response.text()).includes("/docs")) return `http://${LOOPBACK}:${port}`;
    } catch {
      // not an HTTP socket, or not this one
    }
  }
  throw new Error(`no socket of wrangler (pid ${child.pid}) answers as the Worker`);
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
    workerSocketUrl: () => findWorkerSocket(handle.process, port),
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
