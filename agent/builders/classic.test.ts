import { Readable } from "node:stream";
import type Docker from "dockerode";
import { describe, expect, it } from "vitest";
import { checkPathComponent, checkTag } from "../../shared/reference";
import { LogStreamer } from "../log-streamer";
import type { BuildJob } from "./builder";
import { buildTag, ClassicBuilder } from "./classic";

const JOB_ID = "0f8e4c1a-3b7d-4e29-9a61-5c2d8b7f1e03";
const DIGEST = `sha256:${"d".repeat(64)}`;
const ISOLATION = { network: "none", memoryBytes: 16 * 1024 ** 2, cpus: 1 };

/** A job for a fake Docker: only what each test gives it exists. */
function buildJob(signal = new AbortController().signal, status: (line: string) => void = () => {}): BuildJob {
  return {
    jobId: JOB_ID,
    attempt: 2,
    image: { reference: "127.0.0.1:5000/alice/web:v1", registry: "127.0.0.1:5000", path: "alice/web", tag: "v1" },
    auth: { username: "alice", password: "pw", serveraddress: "127.0.0.1:5000" },
    signal,
    log: new LogStreamer({ redact: (text) => text, send: () => {} }),
    status,
  };
}

function classic(docker: object): ClassicBuilder {
  return new ClassicBuilder({ docker: docker as Docker, isolation: ISOLATION });
}

const lines = (...events: object[]) => Readable.from(events.map((event) => `${JSON.stringify(event)}\n`));

describe("buildTag", () => {
  it("names one attempt of one job, in the Docker reference grammar", () => {
    const tag = buildTag(JOB_ID, 2);
    expect(tag).toBe(`dockify-build:${JOB_ID}-2`);
    const [repository = "", tagPart = ""] = tag.split(":");
    expect(checkPathComponent(repository)).toBeNull();
    expect(checkTag(tagPart)).toBeNull();
    expect(buildTag(JOB_ID, 3)).not.toBe(tag);
  });
});

describe("ClassicBuilder.build", () => {
  it("passes Docker only the build's own tag, the login and the operator's isolation, nothing else from the job", async () => {
    const calls: Docker.ImageBuildOptions[] = [];
    const docker = {
      buildImage: async (_context: Readable, options: Docker.ImageBuildOptions) => {
        calls.push(options);
        return lines({ aux: { ID: "sha256:built" } });
      },
    };
    const signal = new AbortController().signal;
    const imageId = await classic(docker).build(buildJob(signal), Readable.from([]));
    expect(imageId).toBe("sha256:built");
    expect(calls).toEqual([
      {
        // Never the job's reference: another job of this agent may push that name meanwhile.
        t: `dockify-build:${JOB_ID}-2`,
        dockerfile: "Dockerfile",
        rm: true,
        forcerm: true,
        abortSignal: signal,
        networkmode: "none",
        memory: 16 * 1024 ** 2,
        memswap: 16 * 1024 ** 2,
        cpuperiod: 100_000,
        cpuquota: 100_000,
        registryconfig: { "127.0.0.1:5000": { username: "alice", password: "pw" } },
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
    await expect(classic(docker).publish(buildJob(), "sha256:built")).resolves.toBe(DIGEST);
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
    expect(removed).toEqual([`dockify-build:${JOB_ID}-2`]);
    expect(statusLines).toEqual([`could not remove the local image dockify-build:${JOB_ID}-2: image is in use by a container`]);
  });
});
