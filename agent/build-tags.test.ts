import { describe, expect, it } from "vitest";
import { checkPathComponent, checkTag } from "../shared/reference";
import { buildTag, hostId, isLeftover, parseBuildTag, THIS_PROCESS, type BuildOwner } from "./build-tags";

const JOB_ID = "0f8e4c1a-3b7d-4e29-9a61-5c2d8b7f1e03";
const ME: BuildOwner = { host: "0123abcd", pid: 100, instance: "aaaaaaaa" };

describe("buildTag", () => {
  it("names one attempt of one job and its owner, in the Docker reference grammar, and parses back", () => {
    const tag = buildTag(JOB_ID, 2, ME);
    expect(tag).toBe(`dockify-build:${JOB_ID}-2.0123abcd.100.aaaaaaaa`);
    const [repository = "", tagPart = ""] = tag.split(":");
    expect(checkPathComponent(repository)).toBeNull();
    expect(checkTag(tagPart)).toBeNull();
    expect(parseBuildTag(tag)).toEqual({ jobId: JOB_ID, attempt: 2, owner: ME });
    expect(buildTag(JOB_ID, 3, ME)).not.toBe(tag);
    expect(parseBuildTag(`dockify-build:${JOB_ID}-2`)).toBeUndefined();
    expect(parseBuildTag("alice/web:latest")).toBeUndefined();
  });

  it("is this process's by default", () => {
    expect(THIS_PROCESS).toEqual({ host: hostId(), pid: process.pid, instance: expect.stringMatching(/^[0-9a-f]{8}$/) });
    expect(parseBuildTag(buildTag(JOB_ID, 1))?.owner).toEqual(THIS_PROCESS);
  });
});

describe("isLeftover", () => {
  const runs = (alive: number[]) => (pid: number) => alive.includes(pid);

  it("is a tag of this host whose process no longer runs", () => {
    expect(isLeftover({ ...ME, pid: 7, instance: "bbbbbbbb" }, ME, runs([]))).toBe(true);
    expect(isLeftover({ ...ME, pid: 7, instance: "bbbbbbbb" }, ME, runs([7]))).toBe(false);
  });

  it("is an earlier process under this very pid (a restarted container's pid 1), never this process's own", () => {
    expect(isLeftover({ ...ME, instance: "bbbbbbbb" }, ME, runs([ME.pid]))).toBe(true);
    expect(isLeftover(ME, ME, runs([]))).toBe(false);
  });

  it("never judges another host's agents (an Engine shared over TCP)", () => {
    expect(isLeftover({ host: "ffffffff", pid: 7, instance: "bbbbbbbb" }, ME, runs([]))).toBe(false);
  });
});
