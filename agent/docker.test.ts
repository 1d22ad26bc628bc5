import { Readable } from "node:stream";
import type Docker from "dockerode";
import { describe, expect, it } from "vitest";
import { checkPathComponent, checkTag } from "../shared/reference";
import { buildImage, buildTag, pushImage, type DockerJob } from "./docker";
import { LogStreamer } from "./log-streamer";

const JOB_ID = "0f8e4c1a-3b7d-4e29-9a61-5c2d8b7f1e03";
const DIGEST = `sha256:${"d".repeat(64)}`;

/** A job against a fake Docker: only what each test gives it exists. */
function dockerJob(docker: Docker, signal = new AbortController().signal): DockerJob {
  return {
    docker,
    image: { reference: "127.0.0.1:5000/alice/web:v1", registry: "127.0.0.1:5000", path: "alice/web", tag: "v1" },
    buildTag: buildTag(JOB_ID, 2),
    auth: { username: "alice", password: "pw", serveraddress: "127.0.0.1:5000" },
    signal,
    logs: new LogStreamer({ redact: (text) => text, send: () => {} }),
    isolation: { network: "none", memoryBytes: 16 * 1024 ** 2, cpus: 1 },
  };
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

describe("buildImage", () => {
  it("passes Docker only the build's own tag, the login and the operator's isolation, nothing else from the job", async () => {
    const calls: Docker.ImageBuildOptions[] = [];
    const docker = {
      buildImage: async (_context: Readable, options: Docker.ImageBuildOptions) => {
        calls.push(options);
        return lines({ aux: { ID: "sha256:built" } });
      },
    } as unknown as Docker;
    const signal = new AbortController().signal;
    const imageId = await buildImage(dockerJob(docker, signal), Readable.from([]));
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

describe("pushImage", () => {
  /** Docker pushing the tag `v1` and reporting DIGEST; `repoDigests` is what it then files under the job's image. */
  function pushingDocker(repoDigests: string[]) {
    const named: string[] = [];
    const docker = {
      getImage: (name: string) => {
        named.push(name);
        return {
          push: async () => lines({ status: `v1: digest: ${DIGEST} size: 527` }),
          inspect: async () => ({ RepoDigests: repoDigests }),
        };
      },
    } as unknown as Docker;
    return { docker, named };
  }

  it("returns the digest Docker filed under the job's image", async () => {
    const { docker, named } = pushingDocker([`127.0.0.1:5000/alice/web@${DIGEST}`]);
    await expect(pushImage(dockerJob(docker), "sha256:built")).resolves.toBe(DIGEST);
    expect(named).toEqual(["127.0.0.1:5000/alice/web", "sha256:built"]);
  });

  it("fails when the pushed digest is another image's: the tag moved under the push", async () => {
    const { docker } = pushingDocker([`127.0.0.1:5000/alice/web@sha256:${"e".repeat(64)}`]);
    await expect(pushImage(dockerJob(docker), "sha256:built")).rejects.toThrow(
      `the push sent another image than this job built (${DIGEST}): the tag 127.0.0.1:5000/alice/web:v1 was changed on the Docker Engine during the push`,
    );
  });
});
