/**
 * `npm run registry`: a local registry that demands a login, for trying Dockify
 * by hand. Listens on 127.0.0.1:5000 (REGISTRY_PORT), user `alice`, password
 * REGISTRY_PASSWORD or a random one printed once; data under .dockify/registry.
 * Runs in the foreground until Ctrl-C.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { REGISTRY_BINARY, registryEnv, waitForRegistry, writeRegistryConfig } from "../harness/registry";

const HOST = "127.0.0.1";
const DEFAULT_PORT = 5000;
const USER = "alice";
const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));
const DIR = join(REPO_ROOT, ".dockify", "registry");

function fail(message: string): never {
  console.error(`registry: ${message}`);
  process.exit(1);
}

function readPort(): number {
  const text = process.env.REGISTRY_PORT;
  if (text === undefined || text === "") return DEFAULT_PORT;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`REGISTRY_PORT must be a port number, not '${text}'`);
  return port;
}

/** Says plainly when the port is taken, before the registry would die with a Go error. */
function checkPortFree(port: number): Promise<void> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", (error: NodeJS.ErrnoException) =>
      fail(
        error.code === "EADDRINUSE"
          ? `${HOST}:${port} is already in use (another registry?). Stop it, or pick a port: REGISTRY_PORT=5001 npm run registry`
          : `cannot listen on ${HOST}:${port}: ${error.message}`,
      ),
    );
    probe.listen({ host: HOST, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

async function main(): Promise<void> {
  if (!existsSync(REGISTRY_BINARY)) fail(`${REGISTRY_BINARY} not found: apt-get install -y docker-registry apache2-utils`);
  const port = readPort();
  const fromEnv = Boolean(process.env.REGISTRY_PASSWORD);
  const password = process.env.REGISTRY_PASSWORD || randomBytes(12).toString("base64url");
  await checkPortFree(port);

  const configPath = await writeRegistryConfig({
    dir: DIR,
    storageDir: join(DIR, "data"),
    port,
    users: { [USER]: password },
  }).catch((error: Error) => fail(error.message));

  let stopping = false;
  const child = spawn(REGISTRY_BINARY, ["serve", configPath], { stdio: ["ignore", "inherit", "inherit"], env: registryEnv() });
  child.once("error", (error) => fail(`cannot start ${REGISTRY_BINARY}: ${error.message}`));
  child.once("exit", (code, signal) => {
    if (stopping) process.exit(0);
    fail(`the registry exited (code ${code ?? "none"}, signal ${signal ?? "none"}); its messages are above`);
  });

  const stop = () => {
    if (stopping) return;
    stopping = true;
    child.kill("SIGTERM");
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);

  await waitForRegistry(`${HOST}:${port}`).catch((error: Error) => fail(error.message));

  const registry = `${HOST}:${port}`;
  const shownPassword = fromEnv ? "$REGISTRY_PASSWORD" : password;
  console.log(
    [
      "",
      `Registry ready on http://${registry} (login required; data in ${relative(REPO_ROOT, join(DIR, "data"))}).`,
      fromEnv ? "The password is the one in REGISTRY_PASSWORD." : "Its password is random and shown only now:",
      "",
      "Pass these to POST /build (query parameters or form fields):",
      `  registry=${registry}`,
      `  user_name=${USER}`,
      `  password=${shownPassword}`,
      "",
      "For example, with the Worker on http://127.0.0.1:8787 and your API token in DOCKIFY_API_TOKEN:",
      `  curl -H "Authorization: Bearer $DOCKIFY_API_TOKEN" -F dockerfile=@Dockerfile \\`,
      `    -F registry=${registry} -F user_name=${USER} -F "password=${shownPassword}" -F repo=hello \\`,
      "    http://127.0.0.1:8787/build",
      "",
      "Ctrl-C stops the registry.",
      "",
    ].join("\n"),
  );
}

await main();
