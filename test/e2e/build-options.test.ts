/**
 * Warm builds on BuildKit through the public API, end to end: two real agents on the real Engine, the login
 * registry, and a second registry with a login of its own. A rebuild is a cache hit and goes to the agent that built
 * it first; cache mounts last between one tenant's builds and never reach another's; a base pulled with a login
 * from X-Registry-Logins, build args, a target and two references pushed to two registries; a private base another
 * tenant's build pulled onto the host serves no build without credentials; a build secret is *** in the log and
 * nowhere in the pushed image; a build for a platform no agent has waits and says why.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ok, type ApiClient } from "../../harness/api";
import { pullImage, pushImage, removeImage, runAndCapture, tagImage } from "../../harness/docker";
import { registryDigest, registryFile, registryImageText } from "../../harness/registry-image";
import { startRegistry, type Registry } from "../../harness/registry";
import { BASE_IMAGE, startStack, type Stack } from "../../harness/stack";
import { pack } from "tar-stream";
import type { Build, BuildSecrets, RegistryLogins } from "../../shared/api";
import { renderEvent } from "../../shared/build-log";

const RUN = randomBytes(4).toString("hex");
const BOB_TOKEN = `bob-${randomBytes(16).toString("hex")}`;
/** The second registry's own login: another user, another password. */
const CAROL = { username: "carol", password: `carol-pw-${randomBytes(6).toString("hex")}` };

let stack: Stack;
let other: Registry;
/** A base image only CAROL's login pulls. */
let privateBase: string;
let bob: ApiClient;

beforeAll(async () => {
  [stack, other] = await Promise.all([startStack({ agents: 2, tenants: { bob: BOB_TOKEN } }), startRegistry({ users: { carol: CAROL.password } })]);
  bob = stack.api.withToken(BOB_TOKEN);
  privateBase = `${other.host}/private/base:${RUN}`;
  await tagImage(BASE_IMAGE, privateBase);
  await pushImage(privateBase, CAROL);
  // Gone from the host: a build pulls it with the login it is given, or not at all.
  await removeImage(privateBase);
});

afterAll(async () => {
  await stack?.stop();
  await other?.stop();
});

async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const archive = pack();
  for (const [name, content] of Object.entries(files)) archive.entry({ name }, content);
  archive.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of archive) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

interface Submission {
  dockerfile: string;
  repo: string;
  tag?: string;
  api?: ApiClient;
  /** Query fields beside the image's. */
  query?: Record<string, string | string[]>;
  logins?: RegistryLogins;
  secrets?: BuildSecrets;
  /** Where the Dockerfile goes in the context (the `dockerfile` field); `Dockerfile` by default. */
  dockerfilePath?: string;
}

/** Submits through POST /v1/builds, pushing to the stack's registry with its login. */
async function submit({ dockerfile, repo, tag = RUN, api = stack.api, query = {}, logins, secrets, dockerfilePath }: Submission): Promise<Build> {
  const tar = await tarOf({ [dockerfilePath ?? "Dockerfile"]: dockerfile });
  const image = { user_name: stack.secrets.registryUser, repo, tag, registry: stack.registry.host, ...(dockerfilePath && { dockerfile: dockerfilePath }) };
  return ok(await api.submitTarball(tar, { ...image, ...query }, { password: stack.secrets.registryPassword, logins, secrets }), 202);
}

async function built(submission: Submission): Promise<{ build: Build; log: string }> {
  const api = submission.api ?? stack.api;
  const { id } = await submit(submission);
  const build = await api.waitForBuild(id, (record) => record.finished_at !== null, { timeoutMs: 90_000 });
  return { build, log: await api.log(id) };
}

function durationMs(build: Build): number {
  return Date.parse(build.finished_at!) - Date.parse(build.started_at!);
}

const ALICE = () => ({ username: stack.secrets.registryUser, password: stack.secrets.registryPassword });

describe("warm builds on BuildKit through the API", () => {
  it("rebuilds the same Dockerfile from the cache, on the agent that built it first, in a fraction of the cold time", async () => {
    // A build of another repository holds the agent that wins ties (equally busy: the one connected first), so the
    // cold build goes to the other one. When the rebuild comes both are idle: without affinity it would go to the first.
    const blocker = await submit({ dockerfile: `FROM ${stack.baseImage}\nRUN sleep 3 && echo blocker-${RUN}\n`, repo: "blocker" });
    await stack.api.waitForBuild(blocker.id, (record) => record.started_at !== null);
    const dockerfile = `FROM ${stack.baseImage}\nRUN sleep 3 && echo slow-${RUN} > /slow\nRUN echo fast-${RUN} > /fast\n`;
    const cold = await built({ dockerfile, repo: "warm" });
    await stack.api.waitForBuild(blocker.id, (record) => record.finished_at !== null);
    const warm = await built({ dockerfile, repo: "warm" });
    expect(cold.build.state).toBe("succeeded");
    expect(warm.build.state).toBe("succeeded");
    const agentOf = (log: string) => /assigned to agent (\S+?),/.exec(log)?.[1];
    const coldAgent = agentOf(cold.log);
    expect(coldAgent).toBeDefined();
    expect(agentOf(await stack.api.log(blocker.id))).not.toBe(coldAgent);
    expect(warm.log).toContain(renderEvent({ type: "assigned", attempt: 1, agent: coldAgent!, placement: { reason: "warm-cache" } }));
    expect(warm.log).toMatch(/^#\d+ CACHED$/m);
    expect(warm.log).toContain(renderEvent({ type: "cache-reused", reused: 2, steps: 2 }));
    const runSteps = (build: Build) => build.steps.filter((step) => step.name.includes("RUN "));
    expect(runSteps(cold.build).map((step) => step.cached)).toEqual([false, false]);
    expect(runSteps(warm.build).map((step) => step.cached)).toEqual([true, true]);
    expect(durationMs(warm.build)).toBeLessThan(durationMs(cold.build) / 2);
  });

  it("keeps RUN --mount=type=cache between one tenant's builds, and never lets another tenant's build read it", async () => {
    const mount = "--mount=type=cache,target=/cache,id=notes";
    const writer = `FROM ${stack.baseImage}\nRUN ${mount} echo note-${RUN} > /cache/note\n`;
    const reader = `FROM ${stack.baseImage}\nRUN ${mount} (cat /cache/note 2>/dev/null || echo empty) > /seen && echo read-${RUN}\n`;
    expect((await built({ dockerfile: writer, repo: "mounts" })).build.state).toBe("succeeded");
    const alices = (await built({ dockerfile: reader, repo: "mounts" })).build;
    const bobs = (await built({ dockerfile: reader, repo: "mounts", api: bob, tag: `bob-${RUN}` })).build;
    expect(alices.state).toBe("succeeded");
    expect(bobs.state).toBe("succeeded");
    const path = `${stack.secrets.registryUser}/mounts`;
    expect(await registryFile(stack.registry.host, ALICE(), path, alices.digest!, "seen")).toBe(`note-${RUN}\n`);
    expect(await registryFile(stack.registry.host, ALICE(), path, bobs.digest!, "seen")).toBe("empty\n");
  });

  it("pulls a base with a login from X-Registry-Logins, builds with args, a target and a Dockerfile elsewhere, and pushes two references to two registries", async () => {
    const dockerfile = [
      `FROM ${privateBase} AS base`,
      "ARG GREETING=hello",
      "ARG NAME",
      'RUN echo "$GREETING, $NAME" > /greeting',
      "FROM base AS final",
      "RUN echo final > /stage",
      "FROM base AS other",
      "RUN echo other > /stage",
      "",
    ].join("\n");
    const mirror = `${other.host}/carol/app:${RUN}`;
    const { build, log } = await built({
      dockerfile,
      repo: "options",
      dockerfilePath: "build/options.Dockerfile",
      query: { build_arg: ["GREETING=bonjour", "NAME=dockify"], target: "final", also_push: mirror },
      logins: { [other.host]: CAROL },
    });
    expect(build.state, log).toBe("succeeded");
    expect(build.options).toMatchObject({ dockerfile: "build/options.Dockerfile", target: "final", build_args: { GREETING: "bonjour", NAME: "dockify" } });
    expect(log).toContain(renderEvent({ type: "image-allowed", reference: privateBase }));
    const main = `${stack.registry.host}/${stack.secrets.registryUser}/options:${RUN}`;
    expect(build.pushed.map((pushed) => pushed.reference)).toEqual([main, mirror]);
    // Each digest is the one its registry serves.
    expect(build.pushed[0]!.digest).toBe(await registryDigest(stack.registry.host, ALICE(), `${stack.secrets.registryUser}/options`, RUN));
    expect(build.pushed[1]!.digest).toBe(await registryDigest(other.host, CAROL, "carol/app", RUN));
    for (const [reference, login] of [[main, ALICE()], [mirror, CAROL]] as const) {
      await removeImage(reference);
      await pullImage(reference, login);
      expect(await runAndCapture(reference, ["cat", "/greeting", "/stage"])).toBe("bonjour, dockify\nfinal\n");
      await removeImage(reference);
    }
    // No login of the request is in its log.
    expect(log).not.toContain(CAROL.password);
  });

  it("fails another tenant's build FROM the private base this host pulled, when it has no login for it", async () => {
    // The previous test's build pulled the base onto the Engine both agents share.
    const { build } = await built({ dockerfile: `FROM ${privateBase}\nRUN echo stolen-${RUN}\n`, repo: "thief", api: bob, tag: `bob-${RUN}` });
    expect(build).toMatchObject({ state: "failed", step: "build" });
    expect(build.error).toMatch(/cannot pull \S*private\/base\S*: its registry requires a login/);
  });

  it("gives a build secret to RUN --mount=type=secret: *** in the log, nowhere in the pushed image", async () => {
    const token = `tok-${randomBytes(12).toString("hex")}`;
    const pem = `-----BEGIN TEST KEY-----\n${randomBytes(24).toString("base64")}\n${randomBytes(24).toString("base64")}\n-----END TEST KEY-----\n`;
    const dockerfile = [
      `FROM ${stack.baseImage}`,
      'RUN --mount=type=secret,id=token,required=true echo "token is $(cat /run/secrets/token)" && wc -c < /run/secrets/token > /size',
      "RUN --mount=type=secret,id=pem,required=true cat /run/secrets/pem",
      "",
    ].join("\n");
    const { build, log } = await built({ dockerfile, repo: "secrets", secrets: { token, pem } });
    expect(build.state, log).toBe("succeeded");
    expect(log).toContain("token is ***");
    for (const line of pem.split("\n").filter((text) => text.length >= 6)) expect(log).not.toContain(line);
    expect(log).not.toContain(token);
    const path = `${stack.secrets.registryUser}/secrets`;
    expect(await registryFile(stack.registry.host, ALICE(), path, build.digest!, "size")).toBe(`${token.length}\n`);
    const everything = await registryImageText(stack.registry.host, ALICE(), path, build.digest!);
    expect(everything).not.toContain(token);
    expect(everything).not.toContain(pem.split("\n")[1]!);
    expect(JSON.stringify(build)).not.toContain(token);
  });

  it("keeps a build for a platform no connected agent builds waiting, and says why", async () => {
    const { id } = await submit({ dockerfile: `FROM ${stack.baseImage}\n`, repo: "arm", query: { platform: "linux/arm64" } });
    const reason = /^no connected build agent of pool '[^']+' builds linux\/arm64: the agents build linux\/amd64$/;
    const status = await stack.api.waitForStatus(id, { until: (seen) => seen.status === "processing" && seen.waiting !== undefined });
    expect(status).toMatchObject({ status: "processing", waiting: expect.stringMatching(reason) });
    const queue = ok(await stack.api.queue());
    expect(queue.reasons).toContainEqual({ kind: "unmatched", reason: expect.stringMatching(reason), builds: 1 });
    expect(ok(await stack.api.build(id))).toMatchObject({ state: "queued", waiting: expect.stringMatching(reason) });
    expect(ok(await stack.api.cancel(id), 200)).toMatchObject({ state: "canceled" });
  });
});
