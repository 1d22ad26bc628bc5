/**
 * The `dockify` command as a user gets it: `npm pack` of this repository,
 * installed into an empty folder, run as that installed bin against the
 * stack (wrangler dev, a real agent, Docker, the login registry). Builds from
 * folders with a .dockerignore (the pulled image is looked into), a multi-stage
 * Dockerfile, build options with a login for a second registry and a secret,
 * a failing build, Ctrl-C canceling the remote build, `logs -f`
 * attached mid-build, `--json` outputs parsed with shared/api.ts, refusals and
 * an unreachable Worker in plain words, and a context large enough for the
 * chunked upload, sent through a proxy that breaks one part's first try.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build as buildSchema, buildList, logStreamMessage, uploadList, type LogStreamMessage } from "../../shared/api";
import { ok } from "../../harness/api";
import { pullImage, pushImage, removeImage, runAndCapture, tagImage } from "../../harness/docker";
import { baseEnv } from "../../harness/managed-process";
import { packAndInstall, type InstalledPackage } from "../../harness/package";
import { poll } from "../../harness/poll";
import { registryDigest } from "../../harness/registry-image";
import { tempDir } from "../../harness/run-dir";
import { startRegistry } from "../../harness/registry";
import { BASE_IMAGE, startStack, type Stack } from "../../harness/stack";

let stack: Stack;
let installed: InstalledPackage;
/** A DOCKER_CONFIG folder with the stack registry's login, as `docker login` writes it. */
let dockerConfig: string;
const pulled: string[] = [];

beforeAll(async () => {
  // One request takes at most 4 MiB here, under the CLI's 16 MiB for one request: a context between them shows the fallback to parts.
  [stack, installed] = await Promise.all([startStack({ vars: { DOCKIFY_MAX_REQUEST_BYTES: String(4 * 1024 * 1024) } }), packAndInstall()]);
  dockerConfig = tempDir("docker-config");
  const auth = Buffer.from(`${stack.secrets.registryUser}:${stack.secrets.registryPassword}`).toString("base64");
  writeFileSync(join(dockerConfig, "config.json"), JSON.stringify({ auths: { [stack.registry.host]: { auth } } }));
});

afterAll(async () => {
  for (const ref of pulled) await removeImage(ref).catch(() => undefined);
  await stack?.stop();
});

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

interface RunOptions {
  env?: Record<string, string>;
  input?: string;
  cwd?: string;
}

/** The installed command, outside the repository, with none of our variables but the Worker's URL, a token and `env`. */
function start(args: string[], options: RunOptions = {}): { child: ChildProcess; output: () => Run; done: Promise<Run> } {
  const child = spawn(installed.bin("dockify"), args, {
    cwd: options.cwd ?? installed.dir,
    env: { ...baseEnv(), DOCKIFY_URL: stack.worker.url, DOCKIFY_TOKEN: stack.secrets.apiToken, DOCKER_CONFIG: dockerConfig, XDG_CONFIG_HOME: tempDir("xdg"), ...options.env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const run: Run = { code: null, signal: null, stdout: "", stderr: "" };
  child.stdout!.on("data", (chunk: Buffer) => (run.stdout += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (run.stderr += chunk.toString()));
  child.stdin!.end(options.input ?? "");
  const done = new Promise<Run>((resolve) =>
    child.once("close", (code, signal) => {
      run.code = code;
      run.signal = signal;
      resolve(run);
    }),
  );
  return { child, output: () => run, done };
}

function dockify(args: string[], options: RunOptions = {}): Promise<Run> {
  return start(args, options).done;
}

/** A build folder with these files. */
function folder(files: Record<string, string | Buffer>): string {
  const dir = tempDir("cli-context");
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

function ref(repo: string, tag = "v1"): string {
  return `${stack.registry.host}/${stack.secrets.registryUser}/${repo}:${tag}`;
}

const login = () => ({ username: stack.secrets.registryUser, password: stack.secrets.registryPassword });

/** The build id the CLI printed on standard error (`build <id>: <image>`). */
function buildIdOf(stderr: string): string {
  const match = /^build ([0-9a-f-]{36}): /m.exec(stderr);
  if (!match) throw new Error(`no build id in:\n${stderr}`);
  return match[1]!;
}

/** Pulls `reference` with the stack's login and runs `cmd` in it. */
async function inImage(reference: string, cmd: string[]): Promise<string> {
  await pullImage(reference, login());
  pulled.push(reference);
  return runAndCapture(reference, cmd);
}

const NUMBERED = /numbered line (\d+)$/;

describe("dockify, installed from the packed tarball", () => {
  it("has --help on every command", async () => {
    const top = await dockify(["--help"]);
    expect(top.code).toBe(0);
    for (const command of ["build", "status", "logs", "cancel", "ls"]) expect(top.stdout).toContain(`  ${command} `);
    expect(top.stdout).toContain("DOCKIFY_URL");
    const build = await dockify(["build", "--help"]);
    expect(build.code).toBe(0);
    for (const flag of ["-t, --tag <ref>", "-f, --file <path>", "--build-arg", "--target", "--platform", "--no-cache", "--secret", "--label", "--password-stdin", "Ctrl-C"]) {
      expect(build.stdout).toContain(flag);
    }
    for (const command of ["status", "logs", "cancel", "ls"]) {
      const help = await dockify([command, "--help"]);
      expect(help.code, command).toBe(0);
      expect(help.stdout).toContain("--json");
    }
  });

  it("builds a folder with a .dockerignore: what it excludes is not in the pushed image, and prints REF@digest", async () => {
    const marker = randomUUID();
    const dir = folder({
      "Dockerfile": `FROM ${stack.baseImage}\nCOPY . /app/\nRUN echo ${marker}\n`,
      ".dockerignore": "secret.env\nnode_modules\n*.log\n!keep.log\n**/cache\n.dockerignore\n",
      "index.js": "console.log('hi')",
      "secret.env": "API_KEY=do-not-ship",
      "node_modules/dep/index.js": "dep",
      "debug.log": "noise",
      "keep.log": "kept",
      "src/cache/blob": "cached",
      "src/main.js": "main",
    });
    const reference = ref("cli-ignore");
    // The registry's login comes from the Docker config (DOCKER_CONFIG), as after `docker login`.
    const run = await dockify(["build", "-t", reference, dir]);
    expect(run.code, run.stderr).toBe(0);
    const digest = await registryDigest(stack.registry.host, login(), `${stack.secrets.registryUser}/cli-ignore`, "v1");
    expect(run.stdout).toBe(`${reference}@${digest}\n`);
    expect(run.stderr).toContain(`logging in to ${stack.registry.host} as ${stack.secrets.registryUser} (password from ${join(dockerConfig, "config.json")})`);
    expect(run.stderr).toContain(marker);
    expect(run.stderr).not.toContain(stack.secrets.registryPassword);

    const files = (await inImage(reference, ["find", "/app", "-type", "f"])).trim().split("\n").sort();
    expect(files).toEqual(["/app/Dockerfile", "/app/index.js", "/app/keep.log", "/app/src/main.js"]);

    const id = buildIdOf(run.stderr);
    const status = await dockify(["status", "--json", id]);
    expect(status.code).toBe(0);
    expect(buildSchema.parse(JSON.parse(status.stdout))).toMatchObject({ id, state: "succeeded", digest });
    const text = await dockify(["status", id]);
    expect(text.stdout).toContain(`state:    succeeded\n`);
    expect(text.stdout).toContain(`digest:   ${digest}\n`);
    const list = await dockify(["ls", "--json"]);
    expect(buildList.parse(JSON.parse(list.stdout)).builds.map((build) => build.id)).toContain(id);
    expect((await dockify(["ls"])).stdout).toMatch(new RegExp(`^${id}\\s+succeeded\\s+${reference.replace(/[.]/g, "\\.")}`, "m"));
  });

  it("builds a multi-stage Dockerfile, the password from --password-stdin", async () => {
    const dir = folder({
      "Dockerfile": [
        `FROM ${stack.baseImage} AS builder`,
        "COPY input.txt /src/input.txt",
        "RUN mkdir /out && echo \"built from $(cat /src/input.txt)\" > /out/built.txt",
        `FROM ${stack.baseImage}`,
        "COPY --from=builder /out/built.txt /built.txt",
        "",
      ].join("\n"),
      "input.txt": "stage one",
    });
    const reference = ref("cli-multistage");
    // No Docker login at all: the password comes only from standard input.
    const run = await dockify(["build", "-t", reference, "--password-stdin", dir], {
      input: `${stack.secrets.registryPassword}\n`,
      env: { DOCKER_CONFIG: tempDir("no-docker-config") },
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain("(password from --password-stdin)");
    expect(await inImage(reference, ["cat", "/built.txt"])).toBe("built from stage one\n");
  });

  it("sends build options, another registry's login and a secret: -f, --build-arg, --target, --secret, --no-cache, two -t", async () => {
    const otherPassword = `other-${randomBytes(12).toString("hex")}`;
    const other = await startRegistry({ users: { bob: otherPassword } });
    const otherBase = `${other.host}/team/base:1`;
    try {
      await tagImage(BASE_IMAGE, otherBase);
      await pushImage(otherBase, { username: "bob", password: otherPassword });
      // Both logins in the Docker config: the CLI sends the other registry's in X-Registry-Logins, for the FROM it names.
      const config = tempDir("docker-config-two");
      const basic = (user: string, password: string) => Buffer.from(`${user}:${password}`).toString("base64");
      writeFileSync(
        join(config, "config.json"),
        JSON.stringify({ auths: { [stack.registry.host]: { auth: basic(stack.secrets.registryUser, stack.secrets.registryPassword) }, [other.host]: { auth: basic("bob", otherPassword) } } }),
      );
      const secret = `token-${randomUUID()}`;
      const dir = folder({
        "docker/app.Dockerfile": [
          `FROM ${otherBase} AS base`,
          "ARG GREETING=unset",
          `RUN --mount=type=secret,id=token test "$(cat /run/secrets/token)" = "${secret}" && echo "greeting $GREETING" > /greeting.txt`,
          "FROM base AS release",
          "RUN echo release > /stage.txt",
          "FROM base AS debug",
          "RUN echo debug > /stage.txt",
          "",
        ].join("\n"),
      });
      const [v1, latest] = [ref("cli-options", "v1"), ref("cli-options", "latest")];
      const run = await dockify(
        ["build", "-f", join(dir, "docker/app.Dockerfile"), "--build-arg", "GREETING=hello", "--target", "release", "--secret", "id=token,env=BUILD_TOKEN", "--no-cache", "-t", v1, "-t", latest, dir],
        { env: { DOCKER_CONFIG: config, BUILD_TOKEN: secret } },
      );
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toContain(`logging in to ${other.host} as bob (from ${join(config, "config.json")})`);
      const lines = run.stdout.trim().split("\n");
      expect(lines).toEqual([expect.stringMatching(new RegExp(`^${v1.replace(/[.]/g, "\\.")}@sha256:[0-9a-f]{64}$`)), expect.stringMatching(new RegExp(`^${latest.replace(/[.]/g, "\\.")}@sha256:[0-9a-f]{64}$`))]);
      expect(await inImage(v1, ["cat", "/greeting.txt", "/stage.txt"])).toBe("greeting hello\nrelease\n");
      const id = buildIdOf(run.stderr);
      for (const text of [run.stdout, run.stderr, await stack.api.log(id)]) {
        expect(text).not.toContain(secret);
        expect(text).not.toContain(otherPassword);
      }
    } finally {
      await removeImage(otherBase).catch(() => undefined);
      await other.stop();
    }
  });

  it("fails a failing build with exit code 1, the step and the error", async () => {
    const dir = folder({ Dockerfile: `FROM ${stack.baseImage}\nRUN echo about to fail ${randomUUID()} && exit 3\n` });
    const run = await dockify(["build", "-t", ref("cli-fail"), dir]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    const id = buildIdOf(run.stderr);
    expect(run.stderr).toMatch(new RegExp(`^build ${id} failed at step build: .*exit code: 3`, "m"));
    expect(ok(await stack.api.build(id))).toMatchObject({ state: "failed", step: "build" });
  });

  it("cancels the remote build on Ctrl-C, shows it canceled, and exits 130", async () => {
    const dir = folder({ Dockerfile: `FROM ${stack.baseImage}\nRUN : ${randomUUID()}; for i in $(seq 1 240); do echo "tick $i"; sleep 0.5; done\n` });
    const running = start(["build", "-t", ref("cli-interrupt"), dir]);
    await poll("the build's second tick", async () => (/tick 2\b/.test(running.output().stderr) ? true : undefined), { timeoutMs: 90_000 });
    const id = buildIdOf(running.output().stderr);
    running.child.kill("SIGINT");
    const run = await running.done;
    expect(run.code, run.stderr).toBe(130);
    expect(run.stderr).toContain(`canceling build ${id}… (Ctrl-C again to exit without waiting)`);
    expect(run.stderr).toContain(`build ${id} was canceled`);
    expect(run.stderr).not.toMatch(/tick 200\b/);
    expect(ok(await stack.api.build(id))).toMatchObject({ state: "canceled" });
  });

  it("says why a build waits, and Ctrl-C cancels it there", async () => {
    const dir = folder({ Dockerfile: `FROM ${stack.baseImage}\n` });
    const waiting = start(["build", "-t", ref("cli-waiting"), "--label", "gpu=true", dir]);
    await poll("the waiting reason", async () => (/^waiting: /m.test(waiting.output().stderr) ? true : undefined), { timeoutMs: 30_000 });
    expect(waiting.output().stderr).toContain("waiting: no connected build agent of pool 'default' has the labels gpu=true");
    const id = buildIdOf(waiting.output().stderr);
    waiting.child.kill("SIGINT");
    const run = await waiting.done;
    expect(run.code).toBe(130);
    expect(run.stderr).toContain(`build ${id} was canceled`);
    expect(ok(await stack.api.build(id))).toMatchObject({ state: "canceled" });
  });

  it("gives `logs -f` attached mid-build every line exactly once, as text and as JSON lines", async () => {
    const lines = 20;
    const dir = folder({ Dockerfile: `FROM ${stack.baseImage}\nRUN : ${randomUUID()}; for i in $(seq 1 ${lines}); do echo "numbered line $i"; sleep 0.25; done\n` });
    const submitted = await dockify(["build", "--detach", "-t", ref("cli-follow"), dir]);
    expect(submitted.code, submitted.stderr).toBe(0);
    const id = submitted.stdout.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    await poll(`line 5 of ${id}`, async () => ((await stack.api.log(id)).includes("numbered line 5\n") ? true : undefined), { timeoutMs: 90_000 });

    const [text, json] = await Promise.all([dockify(["logs", "-f", id]), dockify(["logs", "-f", "--json", id])]);
    expect(text.code, text.stderr).toBe(0);
    const everyLine = Array.from({ length: lines }, (_, index) => index + 1);
    const numbers = (texts: string[]) => texts.flatMap((line) => (NUMBERED.test(line) ? [Number(NUMBERED.exec(line)![1])] : []));
    expect(numbers(text.stdout.split("\n"))).toEqual(everyLine);

    expect(json.code, json.stderr).toBe(0);
    const messages = json.stdout.trim().split("\n").map((line) => logStreamMessage.parse(JSON.parse(line)) as LogStreamMessage);
    expect(numbers(messages.flatMap((message) => (message.event === "line" ? [message.data] : [])))).toEqual(everyLine);
    const ids = messages.filter((message) => message.event !== "end").map((message) => message.id);
    expect(ids).toEqual(Array.from({ length: ids.length }, (_, index) => index + 1));
    expect(messages.at(-1)).toMatchObject({ event: "end", data: { id, state: "succeeded" } });

    const log = await dockify(["logs", "--json", id]);
    expect(numbers((JSON.parse(log.stdout) as { lines: string[] }).lines)).toEqual(everyLine);
  });

  it("cancels a build with `dockify cancel`, printing the record with --json", async () => {
    const dir = folder({ Dockerfile: `FROM ${stack.baseImage}\nRUN : ${randomUUID()}; sleep 120\n` });
    const id = (await dockify(["build", "--detach", "-t", ref("cli-cancel"), dir])).stdout.trim();
    const canceled = await dockify(["cancel", "--json", id]);
    expect(canceled.code, canceled.stderr).toBe(0);
    expect(buildSchema.parse(JSON.parse(canceled.stdout)).id).toBe(id);
    await stack.api.waitForBuild(id, (build) => build.state === "canceled", { what: "canceled build" });
    const again = await dockify(["cancel", id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(new RegExp(`^dockify: POST /v1/builds/${id}/cancel was refused \\(HTTP 409\\): `));
  });

  it("says what the Worker refused and which field, and which URL it could not reach", async () => {
    const unknown = randomUUID();
    const missing = await dockify(["status", unknown]);
    expect(missing).toMatchObject({ code: 1, stdout: "" });
    expect(missing.stderr).toBe(`dockify: GET /v1/builds/${unknown} was refused (HTTP 404): no build with id '${unknown}' [field: id]\n`);

    const dir = folder({ Dockerfile: `FROM ${stack.baseImage}\n` });
    const badLabel = await dockify(["build", "-t", ref("cli-refused"), "--label", "not a label", dir]);
    expect(badLabel.code).toBe(1);
    expect(badLabel.stderr).toMatch(/dockify: POST \/v1\/builds was refused \(HTTP 400\): .* \[field: labels\]\n$/);

    const wrongToken = await dockify(["ls"], { env: { DOCKIFY_TOKEN: "not-a-token" } });
    expect(wrongToken.code).toBe(1);
    expect(wrongToken.stderr).toMatch(/^dockify: GET \/v1\/builds was refused \(HTTP 401\): /);

    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const unreachable = await dockify(["status", unknown], { env: { DOCKIFY_URL: `http://127.0.0.1:${port}` } });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(new RegExp(`^dockify: cannot reach the Dockify Worker at http://127\\.0\\.0\\.1:${port}/v1/builds/${unknown}: fetch failed: .*ECONNREFUSED`));

    const unset = await dockify(["ls"], { env: { DOCKIFY_URL: "", DOCKIFY_TOKEN: "" } });
    expect(unset.code).toBe(2);
    expect(unset.stderr).toContain("DOCKIFY_URL is not set");
  });

  it("sends a large context as a chunked upload, retrying a part whose connection broke, and builds it", async () => {
    // Random bytes do not compress: the gzip-compressed context stays over one request's worth and goes up in parts.
    const big = randomBytes(40 * 1024 * 1024);
    const dir = folder({ "Dockerfile": `FROM ${stack.baseImage}\nCOPY big.bin /big.bin\n`, "big.bin": big });
    let partTwoTries = 0;
    const proxy = await faultyProxy(stack.worker.url, (method, path) => (method === "PUT" && path.endsWith("/parts/2") && partTwoTries++ === 0 ? "cut" : "pass"));
    try {
      const reference = ref("cli-chunked");
      const run = await dockify(["build", "-t", reference, dir], { env: { DOCKIFY_URL: proxy.url } });
      expect(run.code, run.stderr).toBe(0);
      expect(partTwoTries).toBe(2);
      expect(run.stderr).toMatch(/^PUT \/v1\/uploads\/[0-9a-f-]+\/parts\/2 failed \(.*\); sending it again$/m);
      expect(run.stderr).toMatch(/^uploaded 40\.0 MiB in \d+\.\d s \([\d.]+ [KM]iB\/s\)$/m);
      const id = buildIdOf(run.stderr);
      expect(ok(await stack.api.build(id)).files).toMatchObject({ upload: { size: expect.any(Number) } });
      const sum = (await inImage(reference, ["sha256sum", "/big.bin"])).split(" ")[0];
      expect(sum).toBe(createHash("sha256").update(big).digest("hex"));
      // Nothing of the upload is left open for the tenant.
      expect(uploadList.parse(ok(await stack.api.uploads())).uploads).toEqual([]);
    } finally {
      proxy.close();
    }
  });

  it("sends a context in parts after all when the Worker takes less in one request (413)", async () => {
    const big = randomBytes(6 * 1024 * 1024);
    const dir = folder({ "Dockerfile": `FROM ${stack.baseImage}\nCOPY big.bin /big.bin\n`, "big.bin": big });
    const run = await dockify(["build", "-t", ref("cli-fallback"), dir]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/^POST \/v1\/builds with the context in its body failed \(POST \/v1\/builds was refused \(HTTP 413\): .*\[field: body\]; it goes in parts instead\); sending it again$/m);
    expect(ok(await stack.api.build(buildIdOf(run.stderr))).files).toMatchObject({ upload: { size: expect.any(Number) } });
  });

  it("resumes a chunked upload a killed run left: the same command sends only the missing parts", async () => {
    const big = randomBytes(40 * 1024 * 1024);
    const dir = folder({ "Dockerfile": `FROM ${stack.baseImage}\nCOPY big.bin /big.bin\n`, "big.bin": big });
    const state = tempDir("xdg-state");
    const reference = ref("cli-resumed");
    // The first run gets part 1 through; every other part hangs, and the process is killed, as a laptop closing would.
    // One proxy for both runs: an upload is resumed for the same Worker URL (and token and context) only.
    let hang = true;
    const proxy = await faultyProxy(stack.worker.url, (method, path) => (hang && method === "PUT" && !path.endsWith("/parts/1") ? "stall" : "pass"));
    try {
      const env = { DOCKIFY_URL: proxy.url, XDG_STATE_HOME: state };
      const first = start(["build", "-t", reference, dir], { env });
      await poll("part 1 stored", async () => (proxy.answered.some((line) => /^PUT .*\/parts\/1 200$/.test(line)) ? true : undefined), { timeoutMs: 60_000 });
      first.child.kill("SIGKILL");
      await first.done;
      const open = uploadList.parse(ok(await stack.api.uploads())).uploads;
      expect(open).toHaveLength(1);
      expect(open[0]).toMatchObject({ state: "open", parts_received: 1 });

      hang = false;
      proxy.answered.length = 0;
      const run = await dockify(["build", "-t", reference, dir], { env });
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toContain(`resuming upload ${open[0]!.id}: 1 of ${open[0]!.part_count} part(s) are there already`);
      const parts = proxy.answered.filter((line) => line.startsWith("PUT "));
      expect(parts).toHaveLength(open[0]!.part_count - 1);
      expect(parts.some((line) => line.includes("/parts/1 "))).toBe(false);
      const sum = (await inImage(reference, ["sha256sum", "/big.bin"])).split(" ")[0];
      expect(sum).toBe(createHash("sha256").update(big).digest("hex"));
      expect(uploadList.parse(ok(await stack.api.uploads())).uploads).toEqual([]);
    } finally {
      proxy.close();
    }
  });
});

type Fault = "pass" | "cut" | "stall";

interface FaultyProxy {
  url: string;
  /** `METHOD path status` of each request passed through and answered. */
  answered: string[];
  close(): void;
}

/**
 * A proxy to the Worker on loopback that does to each request what `fault` says: pass it through, cut its
 * connection after 1 MiB of its body (a link that drops mid-part), or stall it (read nothing more, answer nothing).
 */
async function faultyProxy(target: string, fault: (method: string, path: string) => Fault): Promise<FaultyProxy> {
  const upstream = new URL(target);
  const answered: string[] = [];
  const sockets = new Set<import("node:net").Socket>();
  const server = createServer((incoming, outgoing) => {
    const path = incoming.url?.split("?")[0] ?? "";
    const what = fault(incoming.method ?? "GET", path);
    if (what === "stall") {
      incoming.pause();
      return;
    }
    const forwarded = httpRequest({ host: upstream.hostname, port: upstream.port, method: incoming.method, path: incoming.url, headers: incoming.headers }, (answer) => {
      outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(outgoing);
      answer.on("end", () => answered.push(`${incoming.method} ${path} ${answer.statusCode}`));
    });
    forwarded.on("error", () => outgoing.destroy());
    if (what === "pass") {
      incoming.pipe(forwarded);
      return;
    }
    let seen = 0;
    incoming.on("data", (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > 1024 * 1024) {
        forwarded.destroy();
        incoming.socket.destroy();
      } else {
        forwarded.write(chunk);
      }
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    answered,
    close: () => {
      server.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}
