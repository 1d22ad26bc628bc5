/**
 * The job runner against the real Docker Engine on this machine and a real
 * registry: a local HTTP server stands in for the Worker's context download,
 * and a fake `send` captures what would go to the pool.
 */
import { existsSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { randomBytes, randomUUID } from "node:crypto";
import Docker from "dockerode";
import { pack } from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderEntry } from "../shared/build-log";
import { agentMessage, LEASE_HEADER, type AgentMessage, assignMessage, type Assignment, type JobOutcome } from "../shared/protocol";
import { buildBaseImage, pullImage, pushImage, removeImage, runAndCapture, tagImage } from "../harness/docker";
import { BASE_IMAGE } from "../harness/stack";
import { startRegistry, type Registry } from "../harness/registry";
import type { BuildIsolation } from "./build-isolation";
import { buildTag } from "./build-tags";
import { ClassicBuilder } from "./builders/classic";
import { AllowedFrontends } from "./images/frontends";
import { runJob } from "./job-runner";
import { hostileArchives } from "../test/fixtures/tar";

const DOCKER_SOCKET = "/var/run/docker.sock";
const BUSYBOX = "/usr/bin/busybox";
const hasDocker = existsSync(DOCKER_SOCKET);
if (!hasDocker) console.warn(`skipping the job runner's Docker tests: no Docker Engine at ${DOCKER_SOCKET}`);

const AGENT_TOKEN = `agent-${randomBytes(16).toString("hex")}`;
const USER = "dockify";
const PASSWORD = `pw-${randomBytes(12).toString("hex")}`;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const TEST_TIMEOUT_MS = 90_000;
/** Long enough for any build here; the time-limit test sets its own. */
const BUILD_TIMEOUT_SECONDS = 60;
/** This machine's daemon may have no docker0 bridge; the tests' RUN steps need no network anyway. */
const NO_NETWORK: BuildIsolation = { network: "none", memoryBytes: undefined, cpus: undefined };
const MIB = 1024 ** 2;

/** A context FROM scratch that can RUN shell commands: the host's static busybox as /bin/sh. */
async function contextTar(dockerfile: string): Promise<Buffer> {
  const tar = pack();
  tar.entry({ name: "Dockerfile" }, dockerfile);
  tar.entry({ name: "bin/busybox", mode: 0o755 }, readFileSync(BUSYBOX));
  for (const applet of ["sh", "sleep", "echo", "cat", "head", "tail"]) tar.entry({ name: `bin/${applet}`, type: "symlink", linkname: "busybox" });
  tar.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of tar) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Stands in for the Worker: serves each job's context only with the agent token and that job's lease token. */
function contextServer() {
  const contexts = new Map<string, { leaseToken: string; tar: Buffer }>();
  const server: Server = createServer((request, response) => {
    const context = contexts.get(request.url ?? "");
    const authorized =
      request.headers.authorization === `Bearer ${AGENT_TOKEN}` && request.headers[LEASE_HEADER.toLowerCase()] === context?.leaseToken;
    if (!context || !authorized) {
      response.writeHead(403, { "Content-Type": "application/json" });
      response.end(JSON.stringify({ error: "job is not leased to you" }));
      return;
    }
    response.writeHead(200, { "Content-Type": "application/x-tar", "Content-Length": context.tar.length });
    response.end(context.tar);
  });
  return { server, contexts };
}

/** The Engine's client, except that every push waits for `gate` before it reaches the Engine. */
class PushesHeldUntil extends Docker {
  constructor(readonly gate: Promise<void>) {
    super();
  }

  override getImage(name: string): Docker.Image {
    const image = super.getImage(name);
    const push = image.push.bind(image);
    return Object.assign(image, {
      push: async (options?: Docker.ImagePushOptions) => {
        await this.gate;
        return push(options);
      },
    });
  }
}

describe.skipIf(!hasDocker)("runJob against the Docker Engine", () => {
  const docker = new Docker();
  const { server, contexts } = contextServer();
  let workerUrl: string;
  let privateRegistry: Registry;
  let openRegistry: Registry;

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    workerUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    [privateRegistry, openRegistry] = await Promise.all([startRegistry({ users: { [USER]: PASSWORD } }), startRegistry()]);
  }, 60_000);

  let privateBaseRef: Promise<string> | undefined;
  /** The harness's busybox base, pushed once to the private registry. */
  function privateBase(): Promise<string> {
    privateBaseRef ??= (async () => {
      const reference = `${privateRegistry.host}/dockify-agent-test/base:${randomBytes(4).toString("hex")}`;
      await buildBaseImage(BASE_IMAGE);
      await tagImage(BASE_IMAGE, reference);
      await pushImage(reference, { username: USER, password: PASSWORD });
      await removeImage(reference);
      return reference;
    })();
    return privateBaseRef;
  }

  afterAll(async () => {
    await Promise.all([privateRegistry?.stop(), openRegistry?.stop()]);
    await new Promise((resolve) => server.close(resolve));
  });

  interface JobOptions {
    dockerfile: string;
    registry?: Registry;
    /** The repository path and tag to push to; a fresh one per job otherwise. */
    name?: { path: string; tag: string };
    password?: string | null;
    /** Serve the context under a different lease token than the assignment's. */
    wrongLease?: boolean;
    isolation?: Partial<BuildIsolation>;
    timeoutSeconds?: number;
    /** The client the agent talks to the Engine with. */
    client?: Docker;
    /** More fields of the assignment (logins, options, …). */
    fields?: Record<string, unknown>;
    /** The context to serve as it is, instead of one made from `dockerfile`. */
    tar?: Uint8Array;
  }

  function assignment({ dockerfile, registry = privateRegistry, name, password = PASSWORD, wrongLease, fields, tar }: JobOptions) {
    const jobId = randomUUID();
    const leaseToken = randomBytes(24).toString("hex");
    const contextPath = `/agent/jobs/${jobId}/context`;
    const { path, tag } = name ?? { path: `dockify-agent-test/${jobId.slice(0, 8)}`, tag: `t-${randomBytes(4).toString("hex")}` };
    const job: Assignment = assignMessage.parse({
      type: "assign",
      jobId,
      attempt: 1,
      leaseToken,
      contextPath,
      image: { reference: `${registry.host}/${path}:${tag}`, registry: registry.host, path, tag },
      ...(password === null ? {} : { auth: { username: USER, password, serveraddress: registry.host } }),
      ...fields,
    });
    const ready = (tar ? Promise.resolve(Buffer.from(tar)) : contextTar(dockerfile)).then((bytes) => {
      contexts.set(contextPath, { leaseToken: wrongLease ? `${leaseToken}-other` : leaseToken, tar: bytes });
    });
    return { job, ready };
  }

  /** Runs a job with a fake `send` that checks every message against the protocol. */
  async function run(options: JobOptions, controller = new AbortController(), onMessage?: (message: AgentMessage) => void) {
    const { isolation, timeoutSeconds = BUILD_TIMEOUT_SECONDS, client = docker } = options;
    const { job, ready } = assignment(options);
    await ready;
    const messages: AgentMessage[] = [];
    const statusLines: string[] = [];
    const end = await runJob(job, {
      // A builder of its own per run: the reference lock is the process's, so concurrent runs still share it.
      builder: new ClassicBuilder({ docker: client, isolation: { ...NO_NETWORK, ...isolation } }),
      platform: { os: "linux", architecture: "amd64" },
      frontends: AllowedFrontends.NONE,
      workerUrl,
      agentToken: AGENT_TOKEN,
      buildTimeoutSeconds: timeoutSeconds,
      signal: controller.signal,
      status: (line) => statusLines.push(line),
      send: (message) => {
        messages.push(agentMessage.parse(message));
        onMessage?.(message);
      },
    });
    if (end.status === "given-back") throw new Error(`the run gave the job back: ${end.reason}`);
    const outcome: JobOutcome = end;
    const entries = messages.flatMap((message) => (message.type === "log" ? message.entries : []));
    // The log's text as the pool renders it, Dockify's events included, and the events as the data they are.
    const logLines = entries.map(renderEntry);
    const events = entries.flatMap((entry) => (typeof entry === "string" ? [] : [entry.event]));
    return { job, outcome, messages, logLines, events, statusLines };
  }

  function expectReportShape(messages: AgentMessage[], outcome: JobOutcome) {
    expect(messages[0]).toMatchObject({ type: "phase", phase: "building" });
    expect(messages.at(-1)).toMatchObject({ type: "result", outcome });
    expect(messages.filter((message) => message.type === "result")).toHaveLength(1);
    const serialized = JSON.stringify(messages);
    expect(serialized).not.toContain(PASSWORD);
    expect(serialized).not.toContain(AGENT_TOKEN);
  }

  async function expectImageGone(reference: string) {
    await expect(docker.getImage(reference).inspect()).rejects.toMatchObject({ statusCode: 404 });
  }

  /** Neither the job's reference nor its build's own tag is left on the Engine. */
  async function expectLocalNamesGone(job: Assignment) {
    await expectImageGone(job.image.reference);
    await expectImageGone(buildTag(job.jobId, job.attempt));
  }

  it(
    "builds, pushes with credentials, reports the registry's digest and removes the local image",
    async () => {
      const { job, outcome, messages, logLines, events } = await run({
        dockerfile: `FROM scratch\nCOPY bin/ /bin/\nRUN echo "the password is ${PASSWORD}" && echo built > /built\n`,
      });
      expect(outcome).toMatchObject({ status: "succeeded", digest: expect.stringMatching(DIGEST), imageId: expect.stringMatching(DIGEST) });
      expectReportShape(messages, outcome);
      expect(messages.map((message) => message.type === "phase" && message.phase).filter(Boolean)).toEqual(["building", "pushing"]);
      expect(logLines).toContain("the password is ***");
      expect(logLines.some((line) => line.includes(`${job.image.tag}: digest:`))).toBe(true);
      const { reference } = job.image;
      expect(events).toEqual([
        { type: "limits", network: "none", memoryBytes: null, cpus: null, timeLimitSeconds: BUILD_TIMEOUT_SECONDS, builder: "classic" },
        { type: "downloading-context" },
        { type: "pushing", reference },
        { type: "pushed", reference, digest: outcome.status === "succeeded" && outcome.digest },
      ]);

      const manifest = await fetch(`http://${job.image.registry}/v2/${job.image.path}/manifests/${job.image.tag}`, {
        method: "HEAD",
        headers: {
          Authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}`,
          Accept: "application/vnd.docker.distribution.manifest.v2+json",
        },
      });
      expect(manifest.status).toBe(200);
      expect(manifest.headers.get("docker-content-digest")).toBe(outcome.status === "succeeded" && outcome.digest);
      await expectLocalNamesGone(job);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "checks the context again as it streams into Docker: one the Worker would never write fails at step context, nothing built",
    async () => {
      // What the red team's link smuggled past the old check: a FIFO, a device and an unchecked name as a link's "data".
      const [, smuggling] = hostileArchives()[0]!;
      const { job, outcome, messages } = await run({ dockerfile: "", tar: smuggling });
      expect(outcome).toEqual({ status: "failed", step: "context", error: expect.stringMatching(/link entry "carrier" carries 2048 bytes of data/) });
      expectReportShape(messages, outcome);
      await expectLocalNamesGone(job);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "keeps two concurrent jobs pushing one reference apart: each reports the digest of its own image",
    async () => {
      const name = { path: `dockify-agent-test/shared-${randomBytes(4).toString("hex")}`, tag: "latest" };
      const contents = [`first-${randomBytes(8).toString("hex")}`, `second-${randomBytes(8).toString("hex")}`];
      // The worst order for a shared tag: no push starts before both builds are done, so if a build's end could
      // move the tag under another job's push, it would here, every time.
      let bothBuilt = (): void => {};
      const client = new PushesHeldUntil(new Promise<void>((resolve) => (bothBuilt = resolve)));
      const built = new Set<string>();
      const onMessage = (message: AgentMessage) => {
        if ((message.type === "phase" && message.phase === "pushing") || message.type === "result") built.add(message.jobId);
        if (built.size === contents.length) bothBuilt();
      };
      const runs = await Promise.all(
        contents.map((content) =>
          run({ name, client, dockerfile: `FROM scratch\nCOPY bin/ /bin/\nRUN echo ${content} > /content\n` }, new AbortController(), onMessage),
        ),
      );
      const digests = new Set<string>();
      for (const [index, { job, outcome, messages, statusLines }] of runs.entries()) {
        expect(outcome).toMatchObject({ status: "succeeded", digest: expect.stringMatching(DIGEST), imageId: expect.stringMatching(DIGEST) });
        expectReportShape(messages, outcome);
        // Neither job's cleanup found its tags gone or taken by the other.
        expect(statusLines).toEqual([]);
        if (outcome.status !== "succeeded") continue;
        digests.add(outcome.digest);
        // What the registry holds under the reported digest is this job's image: its id and its own file.
        const pushed = `${job.image.registry}/${job.image.path}@${outcome.digest}`;
        await pullImage(pushed, { username: USER, password: PASSWORD });
        try {
          expect((await docker.getImage(pushed).inspect()).Id).toBe(outcome.imageId);
          expect(await runAndCapture(pushed, ["cat", "/content"])).toBe(`${contents[index]}\n`);
        } finally {
          await removeImage(pushed);
        }
        await expectLocalNamesGone(job);
      }
      expect(digests.size).toBe(2);
      // Only this test's jobs: other suites may be building on this Engine right now.
      const jobIds = runs.map(({ job }) => job.jobId);
      const buildTags = (await docker.listImages({ filters: { reference: ["dockify-build"] } })).flatMap((image) => image.RepoTags ?? []);
      expect(buildTags.filter((tag) => jobIds.some((jobId) => tag.includes(jobId)))).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "pushes anonymously to an open registry",
    async () => {
      const { outcome, messages } = await run({ dockerfile: "FROM scratch\nCOPY bin/busybox /bin/busybox\n", registry: openRegistry, password: null });
      expect(outcome).toMatchObject({ status: "succeeded", digest: expect.stringMatching(DIGEST) });
      expectReportShape(messages, outcome);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "fails at step build with Docker's message when a RUN exits non-zero, even one whose words say the Engine failed",
    async () => {
      // The message holds the command: words an Engine failure would use must not send the build back to the pool.
      const words = "about to fail: socket hang up, connection reset by peer";
      const { job, outcome, messages, logLines, events } = await run({ dockerfile: `FROM scratch\nCOPY bin/ /bin/\nRUN echo ${words} && exit 1\n` });
      expect(outcome).toEqual({ status: "failed", step: "build", error: expect.stringMatching(/socket hang up.*returned a non-zero code: 1/) });
      expectReportShape(messages, outcome);
      expect(logLines).toContain(words);
      expect(events.at(-1)).toEqual({ type: "failed", step: "build", error: outcome.status === "failed" && outcome.error });
      expect(messages.some((message) => message.type === "phase" && message.phase === "pushing")).toBe(false);
      await expectLocalNamesGone(job);
      // The images of the steps it finished go too: with no cache, nothing would ever reuse them.
      const stepImages = logLines.flatMap((line) => /^ ---> ([0-9a-f]{12})$/.exec(line)?.[1] ?? []);
      expect(stepImages.length).toBeGreaterThan(0);
      for (const id of stepImages) await expectImageGone(id);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "fails at step build with the daemon's message when the Dockerfile does not parse",
    async () => {
      const { outcome, messages } = await run({ dockerfile: "FROM scratch\nFROBNICATE everything\n" });
      expect(outcome).toEqual({ status: "failed", step: "build", error: "dockerfile parse error line 2: unknown instruction: FROBNICATE" });
      expectReportShape(messages, outcome);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "fails at step push with the registry's refusal when the password is wrong, and never shows that password",
    async () => {
      const wrongPassword = `wrong-${randomBytes(8).toString("hex")}`;
      const { job, outcome, messages } = await run({ dockerfile: "FROM scratch\nCOPY bin/busybox /bin/busybox\n", password: wrongPassword });
      expect(outcome).toEqual({ status: "failed", step: "push", error: expect.stringMatching(/unauthorized|authentication required|denied/i) });
      expectReportShape(messages, outcome);
      expect(JSON.stringify(messages)).not.toContain(wrongPassword);
      await expectLocalNamesGone(job);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "fails at step context with the Worker's status and answer when the download is refused",
    async () => {
      const { outcome, messages } = await run({ dockerfile: "FROM scratch\n", wrongLease: true });
      expect(outcome).toEqual({ status: "failed", step: "context", error: expect.stringMatching(/HTTP 403: .*not leased to you/) });
      expectReportShape(messages, outcome);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "stops a running build quickly on cancel, reports canceled and leaves no container behind",
    async () => {
      const marker = `dockify-cancel-${randomBytes(4).toString("hex")}`;
      const controller = new AbortController();
      let canceledAt = 0;
      const { outcome, messages, events } = await run(
        { dockerfile: `FROM scratch\nCOPY bin/ /bin/\nRUN echo ${marker} && sleep 30\n` },
        controller,
        (message) => {
          // The RUN container has started once its output arrives.
          if (!canceledAt && message.type === "log" && message.entries.includes(marker)) {
            canceledAt = Date.now();
            controller.abort();
          }
        },
      );
      expect(canceledAt).toBeGreaterThan(0);
      expect(Date.now() - canceledAt).toBeLessThan(10_000);
      expect(outcome).toEqual({ status: "canceled" });
      expect(events.at(-1)).toEqual({ type: "canceled" });
      expectReportShape(messages, outcome);
      await expectNoContainer(marker);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "stops a build that runs past the time limit: failed at step build, not canceled, no container left",
    async () => {
      const marker = `dockify-timeout-${randomBytes(4).toString("hex")}`;
      const timeoutSeconds = 2;
      const started = Date.now();
      const { outcome, messages, logLines } = await run({ dockerfile: `FROM scratch\nCOPY bin/ /bin/\nRUN echo ${marker} && sleep 30\n`, timeoutSeconds });
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(outcome).toEqual({
        status: "failed",
        step: "build",
        error: "the build exceeded the agent's time limit of 2 s (DOCKIFY_AGENT_BUILD_TIMEOUT_SECONDS)",
      });
      expectReportShape(messages, outcome);
      expect(logLines).toContain(marker);
      await expectNoContainer(marker);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "gives RUN steps the memory limit without swap, and a step that needs more is killed",
    async () => {
      const memoryBytes = 16 * MIB;
      // One RUN step that fails: nothing of it is cached or left behind. /dev/zero has no newline, so tail holds
      // all 200 MiB as one "line".
      const step = [
        `echo memory $(${cgroupValue("memory.max", "memory/memory.limit_in_bytes")})`,
        `echo swap $(${cgroupValue("memory.swap.max", "memory/memory.memsw.limit_in_bytes")})`,
        "head -c 200m /dev/zero | tail > /dev/null",
      ].join("; ");
      const { outcome, messages, logLines } = await run({ dockerfile: `FROM scratch\nCOPY bin/ /bin/\nRUN ${step}\n`, isolation: { memoryBytes } });
      expect(logLines).toContain(`memory ${memoryBytes}`);
      // cgroup v2 counts swap alone (none allowed), v1 memory plus swap (the memory limit).
      expect(logLines.find((line) => line.startsWith("swap "))).toMatch(new RegExp(`^swap (0|${memoryBytes})$`));
      // 137: killed by SIGKILL, which is what the kernel's OOM killer sends.
      expect(outcome).toEqual({ status: "failed", step: "build", error: expect.stringMatching(/returned a non-zero code: 137/) });
      expectReportShape(messages, outcome);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "gives RUN steps the CPU quota",
    async () => {
      const { outcome, logLines, events } = await run({
        // The run's own marker keeps the step out of the build cache, which ignores limits.
        dockerfile: `FROM scratch\nCOPY bin/ /bin/\nRUN echo cpu $(${cgroupValue("cpu.max", "cpu/cpu.cfs_quota_us", "cpu/cpu.cfs_period_us")}) && : ${randomBytes(8).toString("hex")}\n`,
        isolation: { cpus: 1.5 },
      });
      expect(outcome).toMatchObject({ status: "succeeded" });
      // cgroup v2's cpu.max is "quota period"; v1 has them in two files, printed in the same order.
      expect(logLines).toContain("cpu 150000 100000");
      expect(events[0]).toEqual({ type: "limits", network: "none", memoryBytes: null, cpus: 1.5, timeLimitSeconds: 60, builder: "classic" });
      expect(logLines).toContain("[dockify] RUN steps (classic builder) get network none, no memory limit, 1.5 CPUs; time limit 60 s");
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "pulls a private base with the build's own login for its host and pushes to another registry",
    async () => {
      const base = await privateBase();
      const { outcome, logLines, events } = await run({
        dockerfile: `FROM ${base}\nRUN echo on-private-base > /note\n`,
        registry: openRegistry,
        password: null,
        fields: { logins: [{ username: USER, password: PASSWORD, serveraddress: privateRegistry.host }] },
      });
      expect(outcome).toMatchObject({ status: "succeeded", digest: expect.stringMatching(DIGEST) });
      expect(events).toContainEqual({ type: "image-allowed", reference: base });
      expect(logLines).toContain(`[dockify] ${base}: this build's credentials may pull it (checked at its registry)`);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "refuses a private base the Engine already holds to a build without a login for its registry, before building",
    async () => {
      const base = await privateBase();
      await pullImage(base, { username: USER, password: PASSWORD });
      try {
        const { outcome, logLines } = await run({ dockerfile: `FROM ${base}\nRUN echo stolen\n`, registry: openRegistry, password: null });
        expect(outcome).toEqual({
          status: "failed",
          step: "build",
          error: `FROM (line 1): cannot pull ${base}: its registry requires a login and no login (this build has none for ${privateRegistry.host})`,
        });
        expect(logLines.some((line) => line.startsWith("Step 1/"))).toBe(false);
      } finally {
        await removeImage(base);
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "never lets two builds on one Engine share an image, so one's cleanup cannot remove what the other uses",
    async () => {
      // The classic builder's cache is intermediate images shared by every build on the Engine: one build's cleanup
      // removed an image another had just taken from the cache ("unable to find image sha256:…"). Identical builds
      // now each make their own images.
      const dockerfile = `FROM scratch\nCOPY bin/ /bin/\nRUN echo same-${randomBytes(4).toString("hex")} > /same\n`;
      const runs = await Promise.all([run({ dockerfile }), run({ dockerfile })]);
      const ids = runs.map(({ outcome }) => (outcome.status === "succeeded" ? outcome.imageId : outcome.status));
      expect(ids.every((id) => DIGEST.test(id))).toBe(true);
      expect(new Set(ids).size).toBe(2);
    },
    TEST_TIMEOUT_MS,
  );

  /** A shell command printing a cgroup v2 file of the step's own cgroup, or else the v1 file(s). */
  function cgroupValue(v2File: string, ...v1Files: string[]): string {
    const v1Paths = v1Files.map((file) => `/sys/fs/cgroup/${file}`).join(" ");
    return `cat /sys/fs/cgroup/${v2File} 2>/dev/null || cat ${v1Paths}`;
  }

  /** The daemon stops and removes the build container once the request is gone. */
  async function expectNoContainer(marker: string) {
    const deadline = Date.now() + 20_000;
    let leftovers = await containersRunning(marker);
    while (leftovers > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      leftovers = await containersRunning(marker);
    }
    expect(leftovers).toBe(0);
  }

  async function containersRunning(marker: string): Promise<number> {
    const containers = await docker.listContainers({ all: true });
    return containers.filter((container) => container.Command.includes(marker)).length;
  }
});
