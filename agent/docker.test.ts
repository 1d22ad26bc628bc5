import { Readable } from "node:stream";
import type Docker from "dockerode";
import { describe, expect, it } from "vitest";
import { buildImage } from "./docker.ts";
import { LogStreamer } from "./log-streamer.ts";

describe("buildImage", () => {
  it("passes Docker only the image reference, the login and the operator's isolation, nothing else from the job", async () => {
    const calls: Docker.ImageBuildOptions[] = [];
    // Only buildImage is called; the rest of dockerode stays out of this test.
    const docker = {
      buildImage: async (_context: Readable, options: Docker.ImageBuildOptions) => {
        calls.push(options);
        return Readable.from([`${JSON.stringify({ aux: { ID: "sha256:built" } })}\n`]);
      },
    } as unknown as Docker;
    const signal = new AbortController().signal;
    const imageId = await buildImage(
      {
        docker,
        image: { reference: "127.0.0.1:5000/alice/web:v1", registry: "127.0.0.1:5000", path: "alice/web", tag: "v1" },
        auth: { username: "alice", password: "pw", serveraddress: "127.0.0.1:5000" },
        signal,
        logs: new LogStreamer({ redact: (text) => text, send: () => {} }),
        isolation: { network: "none", memoryBytes: 16 * 1024 ** 2, cpus: 1 },
      },
      Readable.from([]),
    );
    expect(imageId).toBe("sha256:built");
    expect(calls).toEqual([
      {
        t: "127.0.0.1:5000/alice/web:v1",
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
