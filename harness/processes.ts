/**
 * Long-running child processes for end-to-end tests: each runs in its own process
 * group, its output goes to a log file under the run's temp dir (and stays in
 * memory for assertions), and every wait fails with the log's path and tail.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { StringDecoder } from "node:string_decoder";
import { setTimeout as sleep } from "node:timers/promises";

/** The repository's root: wrangler and the agent run from here. */
export const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

const DEFAULT_GRACE_MS = 10_000;
const TAIL_LINES = 40;
/** After the leader exits, how long its children get to leave the group before SIGKILL. */
const GROUP_DRAIN_MS = 2_000;
/** How long after the leader exits its last output may still arrive. */
const OUTPUT_SETTLE_MS = 500;

let currentRunDir: string | undefined;

/** The per-run temp dir (one per test file's process) that holds every log and data dir. */
export function runDir(): string {
  currentRunDir ??= mkdtempSync(join(tmpdir(), "dockify-e2e-"));
  return currentRunDir;
}

/** A fresh directory under the run dir, e.g. for a registry's storage. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(runDir(), `${prefix}-`));
}

export interface SpawnOptions {
  /** Names the log file (`<name>-<n>.log`) and error messages. */
  name: string;
  command: string;
  args?: readonly string[];
  cwd?: string;
  /** The child's whole environment; nothing else is inherited. */
  env: NodeJS.ProcessEnv;
}

export interface WaitOptions {
  timeoutMs?: number;
  /** Only output after this offset counts (see `ManagedProcess.outputLength`). */
  from?: number;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  /** Resolves when the group leader exits (never rejects). */
  readonly exited: Promise<Exit>;
  readonly running: boolean;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Current length of `output()`, to wait only for lines written after now. */
  outputLength(): number;
  /** The last lines of the output, prefixed with the log file's path. */
  tail(lines?: number): string;
  /** Resolves with the first complete line matching `pattern`; throws with the log tail on timeout or exit. */
  waitForLine(pattern: RegExp | string, options?: WaitOptions): Promise<string>;
  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves once the leader is gone. */
  stop(graceMs?: number): Promise<Exit>;
  /** Sends `signal` (default SIGKILL) to the whole group at once, without waiting. */
  kill(signal?: NodeJS.Signals): void;
}

const live = new Set<ManagedProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A crashed or interrupted test run must not leave registries and wrangler behind.
  process.once("exit", () => {
    for (const child of live) signalGroup(child.pid, "SIGKILL");
  });
}

/** Signals the process group led by `pid`; false when no such group is left. */
function signalGroup(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw error;
  }
}

/**
 * True while a live (non-zombie) process is in the group. Zombies count as gone:
 * PID 1 in a container may take seconds to reap the children a leader left behind.
 */
function groupAlive(pgid: number): boolean {
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((entry) => /^\d+$/.test(entry));
  } catch {
    return signalGroup(pgid, 0); // no /proc: zombies then count as alive
  }
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ')'.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(pgrp) === pgid && state !== "Z" && state !== "X") return true;
  }
  return false;
}

let logCounter = 0;

export function spawnProcess(options: SpawnOptions): ManagedProcess {
  installExitHook();
  const logDir = join(runDir(), "logs");
  mkdirSync(logDir, { recursive: true });
  const logPath = join(logDir, `${options.name}-${++logCounter}.log`);
  const log = createWriteStream(logPath);

  const child: ChildProcess = spawn(options.command, options.args ?? [], {
    cwd: options.cwd,
    env: options.env,
    detached: true, // its own process group, so teardown reaches grandchildren (workerd, tsx's node)
    stdio: ["ignore", "pipe", "pipe"],
  });

  let text = "";
  /** True once no more output will come: both pipes ended, or a moment after the leader exited. */
  let outputDone = false;
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const listener of listeners) listener();
  };
  const finishOutput = () => {
    if (outputDone) return;
    outputDone = true;
    log.end();
    notify();
  };
  let openPipes = 0;
  const capture = (stream: NodeJS.ReadableStream | null) => {
    if (!stream) return;
    openPipes++;
    const decoder = new StringDecoder("utf8");
    stream.on("data", (chunk: Buffer) => {
      if (!outputDone) log.write(chunk);
      text += decoder.write(chunk);
      notify();
    });
    stream.on("end", () => {
      text += decoder.end();
      if (--openPipes === 0) finishOutput();
    });
  };
  capture(child.stdout);
  capture(child.stderr);

  let exitInfo: Exit | undefined;
  let spawnError: Error | undefined;
  const exited = new Promise<Exit>((resolve) => {
    child.once("error", (error) => {
      spawnError = error;
      text += `\n[harness] ${options.command} failed to start: ${error.message}\n`;
      exitInfo ??= { code: null, signal: null };
      resolve(exitInfo);
      notify();
    });
    child.once("exit", (code, signal) => {
      exitInfo = { code, signal };
      resolve(exitInfo);
      notify();
    });
  });
  void exited.then(() => {
    live.delete(handle);
    // A grandchild may keep the pipes open long after the leader is gone; don't wait for it.
    setTimeout(finishOutput, OUTPUT_SETTLE_MS).unref();
  });

  const tail = (lines = TAIL_LINES) => {
    const last = text.split("\n").slice(-lines - 1).join("\n");
    return `--- ${options.name} log: ${logPath} (last ${lines} lines) ---\n${last}\n--- end of ${options.name} log ---`;
  };

  const exitText = () =>
    spawnError
      ? `failed to start (${spawnError.message})`
      : `exited (code ${exitInfo?.code ?? "none"}, signal ${exitInfo?.signal ?? "none"})`;

  const waitForLine = (pattern: RegExp | string, { timeoutMs = 30_000, from = 0 }: WaitOptions = {}) =>
    new Promise<string>((resolve, reject) => {
      // A copy without g/y: a shared RegExp's lastIndex would make test() skip matches.
      const regex = typeof pattern === "string" ? undefined : new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ""));
      const matches = (line: string) => (regex ? regex.test(line) : line.includes(pattern as string));
      let timer: NodeJS.Timeout | undefined;
      const finish = (error: Error | null, line?: string) => {
        listeners.delete(check);
        clearTimeout(timer);
        if (error) reject(error);
        else resolve(line!);
      };
      function check() {
        const lines = text.slice(from).split("\n");
        // The last element is a line still being written, unless the stream has ended.
        const complete = outputDone ? lines : lines.slice(0, -1);
        const found = complete.find(matches);
        if (found !== undefined) finish(null, found);
        else if (outputDone && exitInfo) finish(new Error(`${options.name} ${exitText()} before printing ${pattern}\n${tail()}`));
      }
      timer = setTimeout(
        () => finish(new Error(`${options.name} did not print ${pattern} within ${timeoutMs} ms\n${tail()}`)),
        timeoutMs,
      );
      listeners.add(check);
      check();
    });

  const stop = async (graceMs = DEFAULT_GRACE_MS): Promise<Exit> => {
    if (child.pid === undefined) return exited;
    if (!exitInfo) {
      signalGroup(child.pid, "SIGTERM");
      const timer = setTimeout(() => signalGroup(child.pid!, "SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    }
    // Children that outlive their leader (or ignore SIGTERM) get a moment, then SIGKILL.
    const deadline = Date.now() + GROUP_DRAIN_MS;
    while (groupAlive(child.pid) && Date.now() < deadline) await sleep(50);
    signalGroup(child.pid, "SIGKILL");
    return exited;
  };

  const handle: ManagedProcess = {
    name: options.name,
    pid: child.pid ?? -1,
    logPath,
    exited,
    get running() {
      return exitInfo === undefined;
    },
    output: () => text,
    outputLength: () => text.length,
    tail,
    waitForLine,
    stop,
    kill: (signal = "SIGKILL") => {
      if (child.pid !== undefined) signalGroup(child.pid, signal);
    },
  };
  if (child.pid !== undefined) live.add(handle);
  return handle;
}

export interface WaitForUrlOptions {
  timeoutMs?: number;
  /** Which HTTP status means ready; any answer by default. */
  accept?: (status: number) => boolean;
  /** Stop waiting (with its log tail) as soon as this process exits. */
  process?: ManagedProcess;
  headers?: Record<string, string>;
}

/** Polls `url` with GET until it answers with an accepted status; returns that response. */
export async function waitForUrl(url: string, options: WaitForUrlOptions = {}): Promise<Response> {
  const { timeoutMs = 30_000, accept = () => true, process: owner, headers } = options;
  const deadline = Date.now() + timeoutMs;
  let last = "no answer yet";
  while (Date.now() < deadline) {
    if (owner && !owner.running) {
      const { code, signal } = await owner.exited;
      await sleep(OUTPUT_SETTLE_MS); // so the tail holds its last words
      throw new Error(`${owner.name} exited (code ${code ?? "none"}, signal ${signal ?? "none"}) while waiting for ${url} (${last})\n${owner.tail()}`);
    }
    try {
      const response = await fetch(url, { headers, signal: AbortSignal.timeout(Math.min(5_000, Math.max(1, deadline - Date.now()))) });
      if (accept(response.status)) return response;
      last = `last answer: HTTP ${response.status}`;
      await response.body?.cancel();
    } catch (error) {
      last = `last error: ${(error as Error).cause ?? (error as Error).message}`;
    }
    await sleep(100);
  }
  throw new Error(`${url} was not ready within ${timeoutMs} ms (${last})${owner ? `\n${owner.tail()}` : ""}`);
}

/** True when a failed start was a lost race for the port, worth a retry on another one. */
export function lostPortRace(child: ManagedProcess): boolean {
  return /address already in use|EADDRINUSE/i.test(child.output());
}

/** Strips variables of ours (and of tools that echo secrets) from an inherited environment. */
export function baseEnv(drop: RegExp = /^(DOCKIFY_|REGISTRY_|DEBUG$)/): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!drop.test(key)) env[key] = value;
  }
  return env;
}
