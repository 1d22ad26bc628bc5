/**
 * A long-running child process of the harness: it runs in its own process
 * group, its output goes to a log file under the run's temp dir (and stays in
 * memory for assertions), and every wait fails with the log's path and tail.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { join } from "node:path";
import { StringDecoder } from "node:string_decoder";
import { setTimeout as sleep } from "node:timers/promises";
import { groupAlive, signalGroup } from "./process-group";
import { runDir } from "./run-dir";

const DEFAULT_GRACE_MS = 10_000;
const DEFAULT_WAIT_MS = 30_000;
const TAIL_LINES = 40;
/** After the leader exits, how long its children get to leave the group before SIGKILL. */
const GROUP_DRAIN_MS = 2_000;
/** How long after the leader exits its last output may still arrive. */
const OUTPUT_SETTLE_MS = 500;

export interface SpawnOptions {
  /** Names the log file (`<name>-<n>.log`) and error messages. */
  name: string;
  command: string;
  args?: readonly string[];
  cwd?: string;
  /** The child's whole environment; nothing else is inherited (see `baseEnv`). */
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

/** Strips variables of ours (and of tools that echo secrets) from an inherited environment. */
export function baseEnv(drop: RegExp = /^(DOCKIFY_|REGISTRY_|DEBUG$)/): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!drop.test(key)) env[key] = value;
  }
  return env;
}

/** Every started process whose leader has not exited yet. */
const live = new Set<ManagedProcess>();
let exitHookInstalled = false;
let logCounter = 0;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A crashed or interrupted test run must not leave registries and wrangler behind.
  process.once("exit", () => {
    for (const child of live) signalGroup(child.pid, "SIGKILL");
  });
}

export class ManagedProcess {
  readonly name: string;
  /** The group leader's pid (-1 when it failed to start); also the group's id. */
  readonly pid: number;
  readonly logPath: string;
  /** Resolves when the group leader exits (never rejects). */
  readonly exited: Promise<Exit>;
  /** Resolves once the leader has exited and its output is complete, so `tail()` holds its last words. */
  readonly closed: Promise<Exit>;

  readonly #log: WriteStream;
  #text = "";
  /** True once no more output will come: both pipes ended, or a moment after the leader exited. */
  #outputDone = false;
  #outputEnded!: () => void;
  #openPipes = 0;
  #exit: Exit | undefined;
  #spawnError: Error | undefined;
  /** Waiters re-check whenever output arrives or the process ends. */
  readonly #listeners = new Set<() => void>();

  /** Starts `command` in a process group of its own. */
  static spawn(options: SpawnOptions): ManagedProcess {
    return new ManagedProcess(options);
  }

  private constructor(options: SpawnOptions) {
    installExitHook();
    this.name = options.name;
    const logDir = join(runDir(), "logs");
    mkdirSync(logDir, { recursive: true });
    this.logPath = join(logDir, `${options.name}-${++logCounter}.log`);
    this.#log = createWriteStream(this.logPath);

    const child: ChildProcess = spawn(options.command, options.args ?? [], {
      cwd: options.cwd,
      env: options.env,
      detached: true, // its own process group, so teardown reaches grandchildren (workerd, tsx's node)
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.pid = child.pid ?? -1;
    const outputEnded = new Promise<void>((resolve) => (this.#outputEnded = resolve));
    this.#capture(child.stdout);
    this.#capture(child.stderr);
    this.exited = new Promise<Exit>((resolve) => {
      child.once("error", (error) => {
        this.#spawnError = error;
        this.#text += `\n[harness] ${options.command} failed to start: ${error.message}\n`;
        this.#exit ??= { code: null, signal: null };
        resolve(this.#exit);
        this.#notify();
      });
      child.once("exit", (code, signal) => {
        this.#exit = { code, signal };
        resolve(this.#exit);
        this.#notify();
      });
    });
    void this.exited.then(() => {
      live.delete(this);
      // A grandchild may keep the pipes open long after the leader is gone; don't wait for it.
      setTimeout(() => this.#finishOutput(), OUTPUT_SETTLE_MS).unref();
    });
    this.closed = Promise.all([this.exited, outputEnded]).then(([exit]) => exit);
    if (child.pid !== undefined) live.add(this);
  }

  get running(): boolean {
    return this.#exit === undefined;
  }

  /** Everything the process wrote to stdout and stderr so far. */
  output(): string {
    return this.#text;
  }

  /** Current length of `output()`, to wait only for lines written after now. */
  outputLength(): number {
    return this.#text.length;
  }

  /** The last lines of the output, prefixed with the log file's path. */
  tail(lines = TAIL_LINES): string {
    const last = this.#text.split("\n").slice(-lines - 1).join("\n");
    return `--- ${this.name} log: ${this.logPath} (last ${lines} lines) ---\n${last}\n--- end of ${this.name} log ---`;
  }

  /** How the process ended, for error messages: `exited (code 1, signal none)` or `failed to start (…)`. */
  describeExit(): string {
    return this.#spawnError
      ? `failed to start (${this.#spawnError.message})`
      : `exited (code ${this.#exit?.code ?? "none"}, signal ${this.#exit?.signal ?? "none"})`;
  }

  /** Resolves with the first complete line matching `pattern`; throws with the log tail on timeout or exit. */
  waitForLine(pattern: RegExp | string, { timeoutMs = DEFAULT_WAIT_MS, from = 0 }: WaitOptions = {}): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      // A copy without g/y: a shared RegExp's lastIndex would make test() skip matches.
      const regex = typeof pattern === "string" ? undefined : new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ""));
      const matches = (line: string) => (regex ? regex.test(line) : line.includes(pattern as string));
      let timer: NodeJS.Timeout | undefined;
      const finish = (error: Error | null, line?: string) => {
        this.#listeners.delete(check);
        clearTimeout(timer);
        if (error) reject(error);
        else resolve(line!);
      };
      const check = () => {
        const lines = this.#text.slice(from).split("\n");
        // The last element is a line still being written, unless the stream has ended.
        const complete = this.#outputDone ? lines : lines.slice(0, -1);
        const found = complete.find(matches);
        if (found !== undefined) finish(null, found);
        else if (this.#outputDone && this.#exit) finish(new Error(`${this.name} ${this.describeExit()} before printing ${pattern}\n${this.tail()}`));
      };
      timer = setTimeout(
        () => finish(new Error(`${this.name} did not print ${pattern} within ${timeoutMs} ms\n${this.tail()}`)),
        timeoutMs,
      );
      this.#listeners.add(check);
      check();
    });
  }

  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves once the leader is gone and its group is empty. */
  async stop(graceMs = DEFAULT_GRACE_MS): Promise<Exit> {
    if (this.pid === -1) return this.exited;
    if (!this.#exit) {
      signalGroup(this.pid, "SIGTERM");
      const timer = setTimeout(() => signalGroup(this.pid, "SIGKILL"), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    // Children that outlive their leader (or ignore SIGTERM) get a moment, then SIGKILL.
    const deadline = Date.now() + GROUP_DRAIN_MS;
    while (groupAlive(this.pid) && Date.now() < deadline) await sleep(50);
    signalGroup(this.pid, "SIGKILL");
    return this.exited;
  }

  /** Sends `signal` (default SIGKILL) to the whole group at once, without waiting. */
  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    if (this.pid !== -1) signalGroup(this.pid, signal);
  }

  #capture(stream: NodeJS.ReadableStream | null): void {
    if (!stream) return;
    this.#openPipes++;
    const decoder = new StringDecoder("utf8");
    stream.on("data", (chunk: Buffer) => {
      if (!this.#outputDone) this.#log.write(chunk);
      this.#text += decoder.write(chunk);
      this.#notify();
    });
    stream.on("end", () => {
      this.#text += decoder.end();
      if (--this.#openPipes === 0) this.#finishOutput();
    });
  }

  #finishOutput(): void {
    if (this.#outputDone) return;
    this.#outputDone = true;
    this.#log.end();
    this.#outputEnded();
    this.#notify();
  }

  #notify(): void {
    for (const listener of this.#listeners) listener();
  }
}
