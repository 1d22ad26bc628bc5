import { Readable } from "node:stream";
import Docker from "dockerode";
import { pack } from "tar-stream";
import { describe, expect, it } from "vitest";
import type { AgentEvent } from "../../shared/build-log";
import { buildTag, type BuildOwner } from "../build-tags";
import { CheckedRepositories } from "../images/check-images";
import { LogStreamer } from "../log-streamer";
import { Logins } from "../logins";
import type { BuildJob } from "./builder";
import { ClassicBuilder } from "./classic";
import { repackContext } from "../../shared/context/repack";
import { archive, file, header } from "../../test/fixtures/tar";
import { EngineFailure, isEngineFailure } from "../engine-failure";

const JOB_ID = "0f8e4c1a-3b7d-4e29-9a61-5c2d8b7f1e03";
const DIGEST = `sha256:${"d".repeat(64)}`;
const ISOLATION = { network: "none", memoryBytes: 16 * 1024 ** 2, cpus: 1 };
const OWNER: BuildOwner = { host: "0123abcd", pid: 4242, instance: "89abcdef" };
const TAG = `dockify-build:${JOB_ID}-2.0123abcd.4242.89abcdef`;
const AUTH = { username: "alice", password: "pw", serveraddress: "127.0.0.1:5000" };

/** A job for a fake Docker: only what each test gives it exists. */
function buildJob(signal = new AbortController().signal, status: (line: string) => void = () => {}, events: AgentEvent[] = []): BuildJob {
  return {
    jobId: JOB_ID,
    attempt: 2,
    image: { reference: "127.0.0.1:5000/alice/web:v1", registry: "127.0.0.1:5000", path: "alice/web", tag: "v1" },
    alsoPush: [],
    auth: AUTH,
    logins: new Logins([AUTH, { username: "bob", password: "pw-b", serveraddress: "docker.io" }]),
    options: { dockerfile: "build/Dockerfile", buildArgs: { A: "1" }, target: "app", noCache: false, platform: "linux/amd64" },
    secrets: new Map(),
    cacheNamespace: "dockify-alice",
    checked: new CheckedRepositories([]),
    signal,
    log: new LogStreamer({ redact: (text) => text, send: () => {} }),
    event: (event) => events.push(event),
    status,
  };
}

function classic(docker: object): ClassicBuilder {
  return new ClassicBuilder({ docker: docker as Docker, isolation: ISOLATION, owner: OWNER });
}

const lines = (...events: object[]) => Readable.from(events.map((event) => `${JSON.stringify(event)}\n`));

describe("the build tag", () => {
  it("is the attempt's own, with its owner", () => {
    expect(buildTag(JOB_ID, 2, OWNER)).toBe(TAG);
  });
});

describe("ClassicBuilder.build", () => {
  it("never lets the real Engine build an archive whose check failed after its entries went out (repack.ts)", async () => {
    // Every entry passes on its own; the escaping symlink is refused only once the archive ends, after both went to Docker.
    const source = archive([file("Dockerfile", "FROM scratch\nLABEL dockify.test=cut\n"), header({ name: "esc", typeflag: "2", linkname: "../../etc" })]);
    async function* once() {
      yield source;
    }
    const context = Readable.from(repackContext(once(), { maxEntries: 10 }), { objectMode: false });
    const docker = new Docker();
    try {
      // Go reads an archive cut at an entry's end as a whole one: only docker-modem destroying the request stops it.
      await expect(classic(docker).build(buildJob(), context)).rejects.toThrow();
      await expect(docker.getImage(TAG).inspect()).rejects.toThrow(/no such image/i);
    } finally {
      await docker.getImage(TAG).remove().catch(() => undefined);
    }
  });

  it("fails, not gives back, a context the real Engine cannot unpack; a 500 the host causes stays the Engine's", async () => {
    // Never reaches Docker through Dockify (the context rules refuse it); here it stands for any context Docker cannot unpack.
    const tar = pack();
    tar.entry({ name: "Dockerfile" }, "FROM scratch\nCOPY . /\n");
    tar.entry({ name: "a".repeat(256) }, "x");
    tar.finalize();
    const failed = await classic(new Docker()).build(buildJob(), tar as unknown as Readable).catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(Error);
    expect((failed as Error).message).toMatch(/^Error processing tar file\(exit status 1\): .*file name too long$/);
    expect(isEngineFailure(failed)).toBe(false);

    const answering = (message: string) => ({
      buildImage: () => Promise.reject(Object.assign(new Error(`(HTTP code 500) server error - ${message}`), { statusCode: 500, json: { message } })),
    });
    const full = await classic(answering("Error processing tar file(exit status 1): write /x: no space left on device")).build(buildJob(), Readable.from([])).catch((error: unknown) => error);
    expect(full).toBeInstanceOf(EngineFailure);
    const other = await classic(answering("failed to create temporary directory")).build(buildJob(), Readable.from([])).catch((error: unknown) => error);
    expect(other).toBeInstanceOf(EngineFailure);
  });

  it("passes Docker the build's own tag, the job's options and logins, no cache, a pull, and the operator's isolation", async () => {
    const calls: Docker.ImageBuildOptions[] = [];
    const docker = {
      buildImage: async (_context: Readable, options: Docker.ImageBuildOptions) => {
        calls.push(options);
        return lines({ aux: { ID: "sha256:built" } });
      },
    };
    const signal = new AbortController().signal;
    const result = await classic(docker).build(buildJob(signal), Readable.from([]));
    expect(result).toEqual({ imageId: "sha256:built" });
    expect(calls).toEqual([
      {
        // Never the job's reference: another job of this agent may push that name meanwhile.
        t: TAG,
        dockerfile: "build/Dockerfile",
        buildargs: { A: "1" },
        target: "app",
        platform: "linux/amd64",
        // Never a cached step: intermediate images are shared by every build on the Engine.
        nocache: true,
        pull: true,
        rm: true,
        forcerm: true,
        abortSignal: signal,
        networkmode: "none",
        memory: 16 * 1024 ** 2,
        memswap: 16 * 1024 ** 2,
        cpuperiod: 100_000,
        cpuquota: 100_000,
        registryconfig: {
          "127.0.0.1:5000": { username: "alice", password: "pw" },
          "https://index.docker.io/v1/": { username: "bob", password: "pw-b" },
        },
      },
    ]);
  });
});

describe("ClassicBuilder.publish", () => {
  /** Docker pushing the tag `v1` and reporting DIGEST; `repoDigests` is what it then files under the job's image. */
  function pushingDocker(repoDigests: string[]) {
    const calls: string[] = [];
    const docker = {
      getImage: (name: string) => ({
        tag: async ({ repo, tag }: { repo: string; tag: string }) => calls.push(`tag ${name} as ${repo}:${tag}`),
        push: async ({ tag }: Docker.ImagePushOptions) => {
          calls.push(`push ${name} tag ${tag}`);
          return lines({ status: `v1: digest: ${DIGEST} size: 527` });
        },
        inspect: async () => {
          calls.push(`inspect ${name}`);
          return { RepoDigests: repoDigests };
        },
        remove: async () => calls.push(`remove ${name}`),
      }),
    };
    return { docker, calls };
  }

  it("returns the digest Docker filed under the job's image, and takes the reference off again", async () => {
    const { docker, calls } = pushingDocker([`127.0.0.1:5000/alice/web@${DIGEST}`]);
    const events: AgentEvent[] = [];
    await expect(classic(docker).publish(buildJob(undefined, undefined, events), "sha256:built")).resolves.toEqual([
      { reference: "127.0.0.1:5000/alice/web:v1", digest: DIGEST },
    ]);
    expect(events).toEqual([
      { type: "pushing", reference: "127.0.0.1:5000/alice/web:v1" },
      { type: "pushed", reference: "127.0.0.1:5000/alice/web:v1", digest: DIGEST },
    ]);
    expect(calls).toEqual([
      "tag sha256:built as 127.0.0.1:5000/alice/web:v1",
      // The repository alone in the URL and exactly the job's tag: without it, Docker pushes every local tag.
      "push 127.0.0.1:5000/alice/web tag v1",
      "inspect sha256:built",
      "remove 127.0.0.1:5000/alice/web:v1",
    ]);
  });

  it("fails when the pushed digest is another image's: the tag moved under the push", async () => {
    const { docker, calls } = pushingDocker([`127.0.0.1:5000/alice/web@sha256:${"e".repeat(64)}`]);
    await expect(classic(docker).publish(buildJob(), "sha256:built")).rejects.toThrow(
      `the push sent another image than this job built (${DIGEST}): the tag 127.0.0.1:5000/alice/web:v1 was changed on the Docker Engine during the push`,
    );
    expect(calls.at(-1)).toBe("remove 127.0.0.1:5000/alice/web:v1");
  });
});

describe("ClassicBuilder.cleanUp", () => {
  it("removes the build's own tag, and tells the operator, not the job's log, what would not go", async () => {
    const removed: string[] = [];
    const docker = {
      getImage: (name: string) => ({
        remove: async () => {
          removed.push(name);
          throw Object.assign(new Error("(HTTP code 409) conflict - image is in use by a container"), { statusCode: 409 });
        },
      }),
    };
    const statusLines: string[] = [];
    await classic(docker).cleanUp(buildJob(undefined, (line) => statusLines.push(line)));
    expect(removed).toEqual([TAG]);
    expect(statusLines).toEqual([`could not remove the local image ${TAG}: image is in use by a container`]);
  });
});
