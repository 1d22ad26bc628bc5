/**
 * Cleaning up after killed agents on the real Engine: tags of processes that no longer run are removed, tags of
 * running ones and of other hosts' agents stay. The host here is a made-up one, so the test touches no real agent's tags.
 */
import { spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildBaseImage, docker, removeImage, tagImage } from "../harness/docker";
import { BASE_IMAGE } from "../harness/stack";
import { buildTag, removeLeftoverTags, type BuildOwner } from "./build-tags";

const hasDocker = existsSync("/var/run/docker.sock");

describe.skipIf(!hasDocker)("removeLeftoverTags", () => {
  const host = randomBytes(4).toString("hex");
  const me: BuildOwner = { host, pid: process.pid, instance: randomBytes(4).toString("hex") };
  const sleeper = spawn("sleep", ["60"], { stdio: "ignore" });
  const tags: string[] = [];

  beforeAll(async () => {
    await buildBaseImage(BASE_IMAGE);
  }, 60_000);

  afterAll(async () => {
    sleeper.kill();
    for (const tag of tags) await removeImage(tag);
  });

  it("removes the build tags of this host's agents that no longer run, and nothing of live ones or other hosts'", async () => {
    const gone = spawn("true", { stdio: "ignore" });
    await new Promise((resolve) => gone.once("exit", resolve));
    const owners: Record<string, BuildOwner> = {
      dead: { host, pid: gone.pid!, instance: "0000dead" },
      restarted: { host, pid: process.pid, instance: "0000beef" },
      live: { host, pid: sleeper.pid!, instance: "00001111" },
      mine: me,
      otherHost: { host: "ffffffff", pid: gone.pid!, instance: "00002222" },
    };
    const tagged = Object.fromEntries(Object.entries(owners).map(([name, owner]) => [name, buildTag(randomUUID(), 1, owner)]));
    for (const tag of Object.values(tagged)) {
      tags.push(tag);
      await tagImage(BASE_IMAGE, tag);
    }
    const statusLines: string[] = [];
    const removed = await removeLeftoverTags(docker, (line) => statusLines.push(line), me);
    expect(removed.sort()).toEqual([tagged.dead, tagged.restarted].sort());
    expect(statusLines).toEqual([]);
    const left = (await docker.listImages({ filters: { reference: ["dockify-build"] } })).flatMap((image) => image.RepoTags ?? []);
    for (const name of ["live", "mine", "otherHost"]) expect(left, name).toContain(tagged[name]);
    for (const name of ["dead", "restarted"]) expect(left, name).not.toContain(tagged[name]);
  });
});
