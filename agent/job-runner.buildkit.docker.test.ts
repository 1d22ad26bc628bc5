/**
 * The job runner with the BuildKit builder against the real Docker Engine on
 * this machine and real registries with logins: a local HTTP server stands in
 * for the Worker's downloads (harness/job-server.ts), and a fake `send`
 * captures what would go to the pool.
 */
import { existsSync } from "node:fs";
import { randomBytes } from "node:crypto";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderEntry, type AgentEvent } from "../shared/build-log";
import { agentMessage, type AgentMessage, type Assignment, type JobOutcome } from "../shared/protocol";
import { buildBaseImage, pullImage, pushImage, removeImage, tagImage } from "../harness/docker";
import { startDockerProxy } from "../harness/docker-proxy";
import { contextTar, imageName, startJobServer, type ContextFile, type JobServer } from "../harness/job-server";
import { startRegistry, type Registry } from "../harness/registry";
import { registryDigest, registryFile, registryImageText } from "../harness/registry-image";
import { BASE_IMAGE } from "../harness/stack";
import { Readable } from "node:stream";
import type { Builder, BuildJob } from "./builders/builder";
import { BuildKitBuilder } from "./builders/buildkit/buildkit";
import { parseImageName } from "./docker-name";
import { EngineFailure } from "./engine-failure";
import { CheckedRepositories } from "./images/check-images";
import { AllowedFrontends } from "./images/frontends";
import { ImageNotPullable } from "./images/registry-check";
import { runJob, type RunEnd } from "./job-runner";
import { Logins } from "./logins";

const hasDocker = existsSync("/var/run/docker.sock");
if (!hasDocker) console.warn("skipping the BuildKit builder's Docker tests: no Docker Engine at /var/run/docker.sock");

const ALICE = { username: "alice", password: `pw-a-${randomBytes(8).toString("hex")}` };
const BOB = { username: "bob", password: `pw-b-${randomBytes(8).toString("hex")}` };
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const TEST_TIMEOUT_MS = 120_000;
const BUILD_TIMEOUT_SECONDS = 90;
const PLATFORM = { os: "linux", architecture: "amd64" };
/** Unique to this run, so no build here is a cache hit of an earlier run's. */
const RUN = randomBytes(6).toString("hex");

describe.skipIf(!hasDocker)("runJob with BuildKit against the Docker Engine", () => {
  const docker = new Docker();
  let server: JobServer;
  let registryA: Registry;
  let registryB: Registry;
  /** The private base image, in registry A (login alice). */
  let base: string;
  let baseDigest: string;
  // The operator's network: none, since these RUN steps need none.
  /** What the builders say on the agent's own output, outside any job. */
  const builderLines: string[] = [];
  const builderStatus = (line: string) => builderLines.push(line);
  const builder = new BuildKitBuilder({
    docker,
    isolation: { network: "none", memoryBytes: undefined, cpus: undefined },
    cacheBytes: 10 * 1024 ** 3,
    status: builderStatus,
  });
  const loginA = () => ({ ...ALICE, serveraddress: registryA.host });
  const loginB = () => ({ ...BOB, serveraddress: registryB.host });

  beforeAll(async () => {
    server = await startJobServer();
    [registryA, registryB] = await Promise.all([
      startRegistry({ users: { [ALICE.username]: ALICE.password } }),
      startRegistry({ users: { [BOB.username]: BOB.password }, tokenAuth: true }),
      buildBaseImage(BASE_IMAGE),
    ]);
    base = `${registryA.host}/private/base:${RUN}`;
    await tagImage(BASE_IMAGE, base);
    baseDigest = await pushImage(base, ALICE);
    await removeImage(base);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([registryA?.stop(), registryB?.stop(), server?.stop()]);
  });

  interface Run {
    dockerfile: string;
    files?: Record<string, string | Buffer | ContextFile>;
    /** Fields of the assignment: image (default: a fresh one in registry A), auth, logins, options, secrets, … */
    fields?: Record<string, unknown>;
    /** Serve the Dockerfile at `dockerfilePath`, as a current pool does (else the agent reads it out of the context). */
    serveDockerfile?: boolean;
    builder?: Builder;
    /** DOCKIFY_AGENT_FRONTENDS; default none. */
    frontends?: AllowedFrontends;
  }

  /** Runs a job with a fake `send` that checks every message against the protocol. */
  async function run({ dockerfile, files = {}, fields = {}, serveDockerfile, builder: using = builder, frontends = AllowedFrontends.NONE }: Run) {
    const tar = await contextTar({ Dockerfile: dockerfile, ...files });
    const assignment: Assignment = server.assign(
      tar,
      { image: imageName(registryA.host, `bk/${RUN}`, `t-${randomBytes(4).toString("hex")}`), auth: loginA(), ...fields },
      serveDockerfile ? { serveDockerfile: dockerfile } : {},
    );
    const messages: AgentMessage[] = [];
    const statusLines: string[] = [];
    const started = Date.now();
    const end: RunEnd = await runJob(assignment, {
      builder: using,
      platform: PLATFORM,
      frontends,
      workerUrl: server.url,
      agentToken: server.agentToken,
      buildTimeoutSeconds: BUILD_TIMEOUT_SECONDS,
      signal: new AbortController().signal,
      status: (line) => statusLines.push(line),
      send: (message) => messages.push(agentMessage.parse(message)),
    });
    const ms = Date.now() - started;
    const entries = messages.flatMap((message) => (message.type === "log" ? message.entries : []));
    const logLines = entries.map(renderEntry);
    const events = entries.flatMap((entry) => (typeof entry === "string" ? [] : [entry.event])) as AgentEvent[];
    return { assignment, end, messages, logLines, events, ms, statusLines };
  }

  function succeeded(end: RunEnd): Extract<JobOutcome, { status: "succeeded" }> {
    expect(end).toMatchObject({ status: "succeeded", digest: expect.stringMatching(DIGEST), imageId: expect.stringMatching(DIGEST) });
    if (end.status !== "succeeded") throw new Error("not succeeded");
    return end;
  }

  it(
    "rebuilds with one changed file from the cache: CACHED steps, the steps as data, a fraction of the cold time",
    async () => {
      const dockerfile = `FROM ${base}\nRUN sleep 2 && echo heavy-${RUN} > /heavy\nCOPY app.txt /app.txt\nRUN cat /app.txt\n`;
      const cold = await run({ dockerfile, files: { "app.txt": "one\n" } });
      const warm = await run({ dockerfile, files: { "app.txt": "two\n" } });
      const [coldOutcome, warmOutcome] = [succeeded(cold.end), succeeded(warm.end)];
      expect(cold.events).toContainEqual({ type: "cache-reused", reused: 0, steps: 3 });
      expect(warm.events).toContainEqual({ type: "cache-reused", reused: 1, steps: 3 });
      expect(warm.logLines).toContain("[dockify] 1 of 3 step(s) reused from the cache");
      // Rendered like `docker buildx build --progress=plain`.
      const sleepStep = warm.logLines.find((line) => line.includes("[2/4] RUN sleep 2"));
      expect(sleepStep).toMatch(/^#(\d+) \[2\/4\] RUN sleep 2/);
      const index = sleepStep!.split(" ")[0];
      expect(warm.logLines).toContain(`${index} CACHED`);
      expect(warm.logLines.some((line) => /^#\d+ \d+\.\d{3} two$/.test(line))).toBe(true);
      expect(cold.logLines.some((line) => new RegExp(`^${cold.logLines.find((l) => l.includes("RUN sleep 2"))!.split(" ")[0]} DONE \\d+\\.\\ds$`).test(line))).toBe(true);
      expect(warmOutcome.steps?.map(({ name, cached }) => ({ name, cached }))).toEqual([
        // pull=1 resolves the tag at the registry, and BuildKit names the digest it got.
        { name: `[1/4] FROM ${base}@${baseDigest}`, cached: expect.any(Boolean) },
        { name: `[2/4] RUN sleep 2 && echo heavy-${RUN} > /heavy`, cached: true },
        { name: "[3/4] COPY app.txt /app.txt", cached: false },
        { name: "[4/4] RUN cat /app.txt", cached: false },
      ]);
      for (const step of warmOutcome.steps ?? []) {
        expect(step.startedAt).toBeGreaterThan(Date.now() - 600_000);
        expect(step.durationMs).toBeGreaterThanOrEqual(0);
      }
      expect(coldOutcome.pushed).toEqual([{ reference: cold.assignment.image.reference, digest: coldOutcome.digest }]);
      expect(warm.ms).toBeLessThan(cold.ms / 2);
      // Cleanup after each build (the tag removed, the cache pruned to its bound) went without a word to the operator.
      expect([...cold.statusLines, ...warm.statusLines, ...builderLines]).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "keeps a cache mount between two builds of one scope, and empty for another scope",
    async () => {
      const mount = `--mount=type=cache,id=shared,target=/cache`;
      const write = await run({ dockerfile: `FROM ${base}\nRUN ${mount} echo ${RUN} > /cache/note\n`, fields: { cacheScope: "alice" } });
      succeeded(write.end);
      const readAs = async (scope: string) => {
        const read = await run({
          dockerfile: `FROM ${base}\nRUN ${mount} echo read-by-${scope}-${RUN}: $(cat /cache/note 2>/dev/null || echo EMPTY)\n`,
          fields: { cacheScope: scope },
        });
        succeeded(read.end);
        // The step's own output line, `#N 0.123 read-by-…`, not its header.
        const output = new RegExp(`^#\\d+ \\d+\\.\\d{3} (read-by-${scope}-${RUN}: .*)$`);
        return read.logLines.map((line) => output.exec(line)?.[1]).find(Boolean);
      };
      expect(await readAs("alice")).toBe(`read-by-alice-${RUN}: ${RUN}`);
      expect(await readAs("bob")).toBe(`read-by-bob-${RUN}: EMPTY`);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "pulls the base from registry A with login A and pushes to registry B (tokens) with login B, and to A as well",
    async () => {
      const { assignment, end } = await run({
        dockerfile: `FROM ${base}\nRUN echo cross-${RUN} > /cross\n`,
        fields: {
          image: imageName(registryB.host, `bob/app-${RUN}`, "v1"),
          alsoPush: [imageName(registryA.host, `alice/copy-${RUN}`, "v1")],
          auth: loginB(),
          logins: [loginA()],
        },
        serveDockerfile: true,
      });
      const outcome = succeeded(end);
      expect(outcome.pushed).toEqual([
        { reference: assignment.image.reference, digest: outcome.digest },
        { reference: `${registryA.host}/alice/copy-${RUN}:v1`, digest: expect.stringMatching(DIGEST) },
      ]);
      const second = outcome.pushed![1]!;
      expect(await registryDigest(registryA.host, ALICE, `alice/copy-${RUN}`, "v1")).toBe(second.digest);
      expect(await registryFile(registryA.host, ALICE, `alice/copy-${RUN}`, second.digest, "cross")).toBe(`cross-${RUN}\n`);
      // The token registry, pulled back through the Engine with bob's login.
      const pushedB = `${registryB.host}/bob/app-${RUN}@${outcome.digest}`;
      await pullImage(pushedB, BOB);
      await removeImage(pushedB);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "refuses a private base another build pulled onto the Engine to a build without credentials: by tag, by digest, in COPY --from",
    async () => {
      // A build with the login pulls the base; then the Engine holds it, in BuildKit's store and as a local image.
      succeeded((await run({ dockerfile: `FROM ${base}\nRUN echo with-login-${RUN}\n` })).end);
      await pullImage(base, ALICE);
      const withoutLogin = { image: imageName(registryB.host, `bob/steal-${RUN}`, "v1"), auth: loginB() };
      const attempts = [
        { dockerfile: `FROM ${base}\nRUN cat /etc/hostname\n`, named: base, where: "FROM (line 1)" },
        { dockerfile: `FROM ${registryA.host}/private/base@${baseDigest}\n`, named: `${registryA.host}/private/base@${baseDigest}`, where: "FROM (line 1)" },
        { dockerfile: `FROM scratch\nCOPY --from=${base} /bin/busybox /busybox\n`, named: base, where: "COPY --from (line 2)" },
      ];
      try {
        for (const { dockerfile, named, where } of attempts) {
          const { end, logLines } = await run({ dockerfile, fields: withoutLogin });
          expect(end).toEqual({
            status: "failed",
            step: "build",
            error: `${where}: cannot pull ${named}: its registry requires a login and no login (this build has none for ${registryA.host})`,
          });
          // Refused before the Engine saw the build: no BuildKit step ran.
          expect(logLines.filter((line) => /^#\d+ /.test(line))).toEqual([]);
        }
      } finally {
        await removeImage(base);
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "refuses a # syntax= frontend the operator did not allow, whichever directive BuildKit would honour; an allowed one is checked with the build's logins",
    async () => {
      const pinned = `${registryA.host}/private/base@${baseDigest}`;
      const allowed = AllowedFrontends.parse(pinned);
      if (!(allowed instanceof AllowedFrontends)) throw new Error(allowed.errors.join("; "));
      const steps = (logLines: string[]) => logLines.filter((line) => /^#\d+ /.test(line));
      const refusals = [
        // With the build's login too: a frontend is refused for what it is, not for where it comes from.
        { dockerfile: `# syntax=${base}\nFROM ${base}\n`, frontends: AllowedFrontends.NONE, refused: base, where: "# syntax (line 1)" },
        // Engine 20.10 reads past a key it does not know, and runs the LAST of two syntax directives.
        { dockerfile: `# syntax=${pinned}\n# note=x\n#syntax = ${base} --opt\nFROM ${base}\n`, frontends: allowed, refused: base, where: "# syntax (line 3)" },
      ];
      for (const { dockerfile, frontends, refused, where } of refusals) {
        const { end, logLines } = await run({ dockerfile, frontends, fields: { logins: [loginA()] } });
        expect(end).toMatchObject({ status: "failed", step: "build" });
        const error = end.status === "failed" ? end.error : "";
        expect(error.startsWith(`${where}: the frontend ${refused} is not allowed on this agent: `), error).toBe(true);
        expect(error).toContain(frontends === allowed ? `by its digest: ${pinned}` : "pinned by digest (DOCKIFY_AGENT_FRONTENDS)");
        // Refused before the Engine saw the build.
        expect(steps(logLines)).toEqual([]);
      }

      // Allowed, but this build has no login for its registry.
      const withoutLogin = await run({
        dockerfile: `# syntax=${pinned}\nFROM scratch\n`,
        frontends: allowed,
        fields: { image: imageName(registryB.host, `bob/frontend-${RUN}`, "v1"), auth: loginB() },
      });
      expect(withoutLogin.end).toEqual({
        status: "failed",
        step: "build",
        error: `# syntax (line 1): cannot pull ${pinned}: its registry requires a login and no login (this build has none for ${registryA.host})`,
      });
      expect(steps(withoutLogin.logLines)).toEqual([]);

      // Allowed and pullable: the Engine runs it (busybox is no frontend, so BuildKit fails it; the agent did not).
      const runs = await run({ dockerfile: `# syntax=${pinned}\nFROM scratch\n`, frontends: allowed });
      expect(runs.events).toContainEqual({ type: "image-allowed", reference: pinned });
      expect(runs.end).toMatchObject({ status: "failed", step: "build", error: expect.stringContaining("frontend gateway.v0") });
      expect(runs.logLines.some((line) => line.includes(`resolve image config for ${pinned}`))).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "builds with build arguments and a target stage, and pushes two references, each with its digest",
    async () => {
      const dockerfile = [
        "ARG FLAVOUR=plain",
        `FROM ${base} AS first`,
        "ARG GREETING=hello",
        'RUN echo "first $GREETING" > /which',
        `FROM ${base} AS second`,
        "RUN echo second > /which",
        "",
      ].join("\n");
      const { assignment, end } = await run({
        dockerfile,
        fields: {
          options: { buildArgs: { GREETING: "bonjour" }, target: "first" },
          alsoPush: [imageName(registryA.host, `bk/${RUN}`, "also")],
        },
      });
      const outcome = succeeded(end);
      expect(outcome.pushed?.map((pushed) => pushed.reference)).toEqual([assignment.image.reference, `${registryA.host}/bk/${RUN}:also`]);
      for (const { reference, digest } of outcome.pushed ?? []) {
        const tag = reference.slice(reference.lastIndexOf(":") + 1);
        expect(await registryDigest(registryA.host, ALICE, `bk/${RUN}`, tag)).toBe(digest);
        expect(await registryFile(registryA.host, ALICE, `bk/${RUN}`, digest, "which")).toBe("first bonjour\n");
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "gives a secret to RUN --mount=type=secret: *** in the log, nowhere in the pushed image, its history or its config",
    async () => {
      const dockerfile = `FROM ${base}\nRUN --mount=type=secret,id=token,required=true echo "token is $(cat /run/secrets/token)" && wc -c < /run/secrets/token > /size && echo ${RUN}\n`;
      const secret = `s3cret-${randomBytes(12).toString("hex")}`;
      const { assignment, end, logLines, messages, events } = await run({ dockerfile, fields: { secrets: [{ id: "token", value: secret }] } });
      const outcome = succeeded(end);
      expect(logLines.some((line) => line.endsWith("token is ***"))).toBe(true);
      expect(events).toContainEqual({ type: "secrets-uncached" });
      expect(JSON.stringify(messages)).not.toContain(secret);
      const { path } = assignment.image;
      expect(await registryFile(registryA.host, ALICE, path, outcome.digest, "size")).toBe(`${secret.length}\n`);
      const everything = await registryImageText(registryA.host, ALICE, path, outcome.digest);
      expect(everything).toContain("/size");
      expect(everything).not.toContain(secret);
      expect(everything).not.toContain(Buffer.from(secret).toString("base64"));

      // The same Dockerfile with another secret (another tenant's, say): the step runs again rather than serve the first result.
      const other = `other-${randomBytes(20).toString("hex")}`;
      const again = await run({ dockerfile, fields: { secrets: [{ id: "token", value: other }] } });
      const second = succeeded(again.end);
      expect(again.logLines.some((line) => line.endsWith("token is ***"))).toBe(true);
      expect(await registryFile(registryA.host, ALICE, again.assignment.image.path, second.digest, "size")).toBe(`${other.length}\n`);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "redacts the password BuildKit writes into a step's name from the steps on the build's record",
    async () => {
      // BuildKit names a RUN step with its build arguments filled in: `[2/2] RUN echo <the value> > /x`.
      const dockerfile = `FROM ${base}\nARG PW\nRUN echo $PW-${RUN} > /x\n`;
      const { end, messages } = await run({ dockerfile, fields: { options: { buildArgs: { PW: ALICE.password } } } });
      const outcome = succeeded(end);
      expect(outcome.steps?.map(({ name }) => name)).toContain(`[2/2] RUN echo ***-${RUN} > /x`);
      const result = messages.find((message) => message.type === "result");
      expect(JSON.stringify(result)).not.toContain(ALICE.password);
      expect(JSON.stringify(messages)).not.toContain(ALICE.password);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "runs several builds at once on one Engine, each session kept alive past BuildKit's health checks",
    async () => {
      const runs = await Promise.all(
        [1, 2, 3, 4].map((index) =>
          run({
            // The secret is asked for only after seconds of session life: a session that failed its health checks is gone by then.
            dockerfile: `FROM ${base}\nRUN sleep 3 && echo ${index}-${RUN} > /n\nRUN --mount=type=secret,id=token,required=true cat /run/secrets/token > /dev/null\n`,
            fields: { secrets: [{ id: "token", value: `token-${index}-${RUN}` }] },
          }),
        ),
      );
      for (const { end } of runs) succeeded(end);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "stops a build that reaches for an image the check did not clear, before any of its steps runs",
    async () => {
      const marker = `unchecked-${RUN}`;
      const tar = await contextTar({ Dockerfile: `FROM ${base}\nRUN echo ${marker}\n` });
      const written: string[] = [];
      const job: BuildJob = {
        jobId: "6a0c3f52-2f7e-4a59-9d1e-0c8b1f1d2e3a",
        attempt: 1,
        image: imageName(registryA.host, `bk/${RUN}`, "unchecked"),
        alsoPush: [],
        auth: loginA(),
        logins: new Logins([loginA()]),
        options: { dockerfile: "Dockerfile", buildArgs: {}, noCache: false },
        secrets: new Map(),
        cacheNamespace: `dockify-job-${RUN}`,
        // As if the agent's check had read another image out of the Dockerfile than BuildKit does.
        checked: new CheckedRepositories([parseImageName(`${registryA.host}/something/else:1`)]),
        signal: new AbortController().signal,
        log: { write: (text) => written.push(text) },
        event: () => {},
        status: () => {},
      };
      try {
        const refusal = builder.build(job, Readable.from([tar]));
        await expect(refusal).rejects.toThrow(ImageNotPullable);
        await expect(refusal).rejects.toThrow(new RegExp(`^the build reached for ${registryA.host}/private/base:${RUN}, which is not among the images the agent checked`));
      } finally {
        await builder.cleanUp(job);
      }
      expect(written.join("")).toContain(`load metadata for ${registryA.host}/private/base:${RUN}`);
      expect(written.join("")).not.toContain(`RUN echo ${marker}`);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "refuses build arguments reserved to the agent",
    async () => {
      // BUILDKIT_SYNTAX would pick the frontend as a # syntax= line does.
      const buildArgs = { BUILDKIT_CACHE_MOUNT_NS: "alice", OK: "1", BUILDKIT_SYNTAX: base };
      const { end } = await run({ dockerfile: `FROM ${base}\n`, fields: { options: { buildArgs } } });
      expect(end).toEqual({
        status: "failed",
        step: "build",
        error: "build argument(s) BUILDKIT_CACHE_MOUNT_NS, BUILDKIT_SYNTAX refused: names starting with BUILDKIT_ are reserved to the agent",
      });
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "gives the attempt back to the pool when the Engine fails, rather than failing the user's build",
    async () => {
      const unreachable = new BuildKitBuilder({
        docker: new Docker({ socketPath: "/nonexistent/docker.sock" }),
        isolation: { network: undefined, memoryBytes: undefined, cpus: undefined },
        cacheBytes: 10 * 1024 ** 3,
        status: builderStatus,
      });
      const { assignment, end, messages, events } = await run({ dockerfile: `FROM ${base}\nRUN true\n`, builder: unreachable });
      expect(end).toEqual({ status: "given-back", reason: expect.stringMatching(/^the Docker Engine failed: .*ENOENT/) });
      expect(events.at(-1)).toEqual({ type: "engine-failed", error: expect.stringMatching(/ENOENT/) });
      expect(messages.at(-1)).toEqual({ type: "refused", jobId: assignment.jobId, attempt: 1, reason: expect.stringMatching(/^the Docker Engine failed/), givenBack: true });
      expect(messages.some((message) => message.type === "result")).toBe(false);
    },
    TEST_TIMEOUT_MS,
  );
  it(
    "fails a build whose failing RUN says what an Engine failure would say: the build's own words never make it the Engine's",
    async () => {
      const words = "socket hang up; connection reset by peer; no active session for x; unable to find image sha256:0123456789abcdef";
      const { end, messages } = await run({ dockerfile: `FROM ${base}\nRUN echo "${words}" ${RUN} && exit 1\n` });
      expect(end).toMatchObject({ status: "failed", step: "build", error: expect.stringContaining("socket hang up") });
      expect(messages.some((message) => message.type === "refused")).toBe(false);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "gives the attempt back when the build's session is lost mid-build (its connection to the Engine cut)",
    async () => {
      const proxy = await startDockerProxy();
      try {
        const proxied = new BuildKitBuilder({
          docker: proxy.docker,
          isolation: { network: "none", memoryBytes: undefined, cpus: undefined },
          cacheBytes: 10 * 1024 ** 3,
          status: builderStatus,
        });
        const running = run({
          // The secret is asked for through the session after the first step: by then the session is gone.
          dockerfile: `FROM ${base}\nRUN echo lost-${RUN} && sleep 3\nRUN --mount=type=secret,id=token,required=true cat /run/secrets/token\n`,
          fields: { secrets: [{ id: "token", value: `token-${RUN}` }] },
          builder: proxied,
        });
        const deadline = Date.now() + 30_000;
        while (!proxy.requests().some((line) => line.startsWith("POST /build")) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        expect(proxy.cut(/^POST \/session/)).toBe(1);
        const { end, messages, events } = await running;
        expect(end).toEqual({ status: "given-back", reason: expect.stringMatching(/^the Docker Engine failed: BuildKit lost the build's session: /) });
        expect(events).toContainEqual({ type: "engine-failed", error: expect.stringMatching(/^BuildKit lost the build's session/) });
        expect(messages.at(-1)).toMatchObject({ type: "refused", reason: expect.stringMatching(/^the Docker Engine failed/) });
      } finally {
        await proxy.stop();
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "tells the Engine's failure when the image a build made is gone before its push",
    async () => {
      const job: BuildJob = {
        jobId: "0d1c2b3a-4f5e-4d6c-8b7a-9f8e7d6c5b4a",
        attempt: 1,
        image: imageName(registryA.host, `bk/${RUN}`, "vanished"),
        alsoPush: [],
        auth: loginA(),
        logins: new Logins([loginA()]),
        options: { dockerfile: "Dockerfile", buildArgs: {}, noCache: false },
        secrets: new Map(),
        cacheNamespace: `dockify-job-${RUN}`,
        checked: new CheckedRepositories([]),
        signal: new AbortController().signal,
        log: { write: () => {} },
        event: () => {},
        status: () => {},
      };
      const gone = `sha256:${randomBytes(32).toString("hex")}`;
      const publish = builder.publish(job, gone);
      await expect(publish).rejects.toThrow(EngineFailure);
      await expect(publish).rejects.toThrow(`the image this build made (${gone}) is gone from the Docker Engine: something removed it before its push`);
    },
    TEST_TIMEOUT_MS,
  );
});
