/**
 * A real registry (Debian's `docker-registry`, the CNCF distribution registry)
 * on 127.0.0.1, with htpasswd logins when users are given (HTTP Basic), or
 * with Bearer tokens from a token service (token-server.ts), as Docker Hub
 * does. `writeRegistryConfig` is shared with `scripts/registry.ts`.
 */
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { baseEnv, ManagedProcess } from "./managed-process";
import { freePort, LOOPBACK, lostPortRace } from "./ports";
import { tempDir } from "./run-dir";
import { startTokenServer, TOKEN_ISSUER, type TokenServer } from "./token-server";
import { waitForUrl } from "./wait-for-url";

export const REGISTRY_BINARY = "/usr/bin/docker-registry";
const START_ATTEMPTS = 3;

export type Users = Record<string, string>;

/** A bcrypt htpasswd line for each user, made by `htpasswd -niB` (the password goes in on stdin, not argv). */
export async function htpasswdFile(users: Users): Promise<string> {
  const lines = await Promise.all(
    Object.entries(users).map(
      ([name, password]) =>
        new Promise<string>((resolve, reject) => {
          if (!/^[^:\s]+$/.test(name)) throw new Error(`invalid registry user name ${JSON.stringify(name)}`);
          const child = spawn("htpasswd", ["-niB", name], { stdio: ["pipe", "pipe", "pipe"] });
          let out = "";
          let err = "";
          child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
          child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
          child.once("error", (error) =>
            reject(new Error(`htpasswd failed to start (${error.message}); install apache2-utils`)),
          );
          child.once("close", (code) =>
            code === 0 && out.trim() ? resolve(out.trim()) : reject(new Error(`htpasswd exited ${code}: ${err.trim()}`)),
          );
          child.stdin.end(`${password}\n`);
        }),
    ),
  );
  return lines.map((line) => `${line}\n`).join("");
}

export interface RegistryConfigOptions {
  /** Where config.yml (and htpasswd) are written. */
  dir: string;
  /** Where the registry keeps blobs and manifests. */
  storageDir: string;
  port: number;
  /** Logins required when given (and not empty); an open registry otherwise. */
  users?: Users;
  /** Bearer tokens from this service instead of htpasswd (the users are then the token service's). */
  token?: Pick<TokenServer, "realm" | "service" | "certPath">;
  logLevel?: "error" | "warn" | "info" | "debug";
}

/** Writes config.yml (and htpasswd) into `dir`; returns the config's path. */
export async function writeRegistryConfig(options: RegistryConfigOptions): Promise<string> {
  const { dir, storageDir, port, users = {}, token, logLevel = "info" } = options;
  mkdirSync(dir, { recursive: true });
  mkdirSync(storageDir, { recursive: true });
  const lines = [
    "version: 0.1",
    "log:",
    `  level: ${logLevel}`,
    "  formatter: text",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${JSON.stringify(storageDir)}`,
    "  delete:",
    "    enabled: true",
    "http:",
    `  addr: ${LOOPBACK}:${port}`,
    // Only signs upload state between requests of one instance; any random value does.
    `  secret: ${randomBytes(24).toString("hex")}`,
  ];
  if (token) {
    lines.push(
      "auth:",
      "  token:",
      `    realm: ${JSON.stringify(token.realm)}`,
      `    service: ${JSON.stringify(token.service)}`,
      `    issuer: ${JSON.stringify(TOKEN_ISSUER)}`,
      `    rootcertbundle: ${JSON.stringify(token.certPath)}`,
    );
  } else if (Object.keys(users).length > 0) {
    const htpasswdPath = join(dir, "htpasswd");
    writeFileSync(htpasswdPath, await htpasswdFile(users), { mode: 0o600 });
    lines.push("auth:", "  htpasswd:", "    realm: dockify-registry", `    path: ${JSON.stringify(htpasswdPath)}`);
  }
  const configPath = join(dir, "config.yml");
  writeFileSync(configPath, `${lines.join("\n")}\n`, { mode: 0o600 });
  return configPath;
}

/** The registry's environment: REGISTRY_* variables would override its config file, so none are inherited. */
export function registryEnv(): NodeJS.ProcessEnv {
  return baseEnv(/^(REGISTRY_|DOCKIFY_|OTEL_)/);
}

/** Waits until GET /v2/ answers 200 (open) or 401 (login required). */
export function waitForRegistry(host: string, options: { timeoutMs?: number; process?: ManagedProcess } = {}) {
  return waitForUrl(`http://${host}/v2/`, {
    timeoutMs: options.timeoutMs ?? 20_000,
    accept: (status) => status === 200 || status === 401,
    process: options.process,
  });
}

export interface RegistryOptions {
  users?: Users;
  /** Logins through a Bearer token service (Docker Hub's scheme) rather than HTTP Basic. */
  tokenAuth?: boolean;
}

export interface Registry {
  /** `127.0.0.1:PORT`, the registry part of image references. */
  host: string;
  port: number;
  storageDir: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

export async function startRegistry(options: RegistryOptions = {}): Promise<Registry> {
  const dir = tempDir("registry");
  const storageDir = join(dir, "data");
  const token = options.tokenAuth ? await startTokenServer(dir, "dockify-test-registry", options.users ?? {}) : undefined;
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const configPath = await writeRegistryConfig({ dir, storageDir, port, users: options.users, token });
    const child = ManagedProcess.spawn({
      name: "registry",
      command: REGISTRY_BINARY,
      args: ["serve", configPath],
      env: registryEnv(),
    });
    const host = `${LOOPBACK}:${port}`;
    try {
      await waitForRegistry(host, { process: child });
    } catch (error) {
      await child.stop(1_000);
      if (attempt < START_ATTEMPTS && lostPortRace(child)) continue;
      await token?.stop();
      throw error;
    }
    return {
      host,
      port,
      storageDir,
      process: child,
      stop: async () => {
        await child.stop(5_000);
        await token?.stop();
      },
    };
  }
}
