/**
 * `npm run dev`: the whole stack on this machine. Creates `.dev.vars` with
 * random tokens when it is missing, starts `wrangler dev` on 127.0.0.1 and one
 * agent connected to it and to the local Docker Engine, and prints the API
 * token to use. Ctrl-C stops both.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { parseEnv } from "node:util";
import { waitForUrl } from "../harness/wait-for-url";

const DEV_VARS = ".dev.vars";
// Programs themselves, not npx or the tsx wrapper: those relay a signal late or twice, and a second SIGTERM
// tells the agent to abandon its builds.
const BIN = (name: string) => `node_modules/.bin/${name}`;
const port = Number(process.env.DOCKIFY_PORT ?? 8787);
const url = `http://127.0.0.1:${port}`;

function token(): string {
  return randomBytes(24).toString("base64url");
}

function ensureDevVars(): Record<string, string> {
  if (!existsSync(DEV_VARS)) {
    const lines = [
      "# Made by npm run dev. Tokens: API as name=token pairs (the name is the tenant), agents comma-separated.",
      `DOCKIFY_API_TOKENS=local=${token()}`,
      `DOCKIFY_AGENT_TOKENS=${token()}`,
      `DOCKIFY_SECRET_KEY=${randomBytes(32).toString("base64url")}`,
    ];
    writeFileSync(DEV_VARS, `${lines.join("\n")}\n`, { mode: 0o600 });
    console.log(`Created ${DEV_VARS} with new random tokens.`);
  }
  return parseEnv(readFileSync(DEV_VARS, "utf8")) as Record<string, string>;
}

/** The first plain token of a list; hashed (`sha256:`) entries cannot be used by a client. */
function firstPlainToken(list: string | undefined): string | undefined {
  for (const entry of (list ?? "").split(",")) {
    const value = entry.includes("=") ? entry.slice(entry.indexOf("=") + 1).trim() : entry.trim();
    if (value && !value.startsWith("sha256:")) return value;
  }
  return undefined;
}

/**
 * Not the harness's ManagedProcess: that one puts each child in a session of its own and keeps all
 * its output in memory, for tests. Here the children stay in the terminal's process group (closing
 * the terminal stops them too), and their output goes to the console as it comes.
 */
function run(name: string, command: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream! }).on("line", (line) => console.log(`[${name}] ${line}`));
  }
  child.on("exit", (code, signal) => {
    console.log(`[${name}] exited (${signal ?? code})`);
    // One part gone means the stack is not usable: stop the other one too.
    stopAll(code ?? 1);
    exitWhenAllStopped();
  });
  return child;
}

const children: ChildProcess[] = [];
let stopping = false;
let exitCode = 0;

const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

function stopAll(code: number): void {
  if (stopping) return;
  stopping = true;
  exitCode = code;
  for (const child of children.filter(running)) child.kill("SIGTERM");
}

function exitWhenAllStopped(): void {
  if (!children.some(running)) process.exit(exitCode);
}

/** The first Ctrl-C asks every part to stop (the agent lets running builds finish); a second one kills them. */
function onSignal(): void {
  if (stopping) for (const child of children.filter(running)) child.kill("SIGKILL");
  stopAll(0);
  exitWhenAllStopped();
}

process.on("SIGINT", onSignal);
process.on("SIGTERM", onSignal);

const vars = ensureDevVars();
const apiToken = firstPlainToken(vars.DOCKIFY_API_TOKENS);
const agentToken = firstPlainToken(vars.DOCKIFY_AGENT_TOKENS);
if (!agentToken) throw new Error(`${DEV_VARS} has no plain agent token in DOCKIFY_AGENT_TOKENS`);

const wranglerArgs = [
  "dev",
  "--ip", "127.0.0.1",
  "--port", String(port),
  "--show-interactive-dev-session=false",
  // Webhook receivers you run yourself listen on loopback over plain http; never allowed by default (README, Webhooks).
  "--var", "DOCKIFY_WEBHOOK_ALLOW_HTTP_LOOPBACK:true",
];
// A local stack talks to nothing outside this machine: no `request.cf` data from Cloudflare (it fails loudly
// offline) and no usage metrics. Either can be turned back on by setting the variable.
const offline = {
  CLOUDFLARE_CF_FETCH_ENABLED: process.env.CLOUDFLARE_CF_FETCH_ENABLED ?? "false",
  WRANGLER_SEND_METRICS: process.env.WRANGLER_SEND_METRICS ?? "false",
};
children.push(run("worker", BIN("wrangler"), wranglerArgs, offline));
// Any answer means the Worker is loaded: wrangler holds requests until then.
await waitForUrl(url, { timeoutMs: 120_000 });
children.push(run("agent", process.execPath, ["--import", "tsx", "agent/main.ts"], { DOCKIFY_URL: url, DOCKIFY_AGENT_TOKEN: agentToken }));

console.log(`
Dockify is running on ${url}
  API token: ${apiToken ?? `(hashed in ${DEV_VARS}: use the token you hashed)`}
  Try:  curl -H "Authorization: Bearer ${apiToken ?? "$TOKEN"}" -X POST "${url}/build?user_name=alice&repo=web&tag=v1&registry=127.0.0.1:5000" -F dockerfile=@Dockerfile
  Docs: ${url}/docs   Dashboard: ${url}/dashboard (sign in with the API token)
Ctrl-C stops the Worker and the agent.
`);
