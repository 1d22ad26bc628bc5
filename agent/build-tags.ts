/**
 * The local name of one attempt's build on the Engine, and whose it is.
 *
 * Several agents may share one Engine (several slots, several agents on a
 * host). A build's image carries a tag of its own attempt until its push is
 * done; an agent killed before it removed it leaves that tag for good. So the
 * tag also names the agent process that made it (a hash of the host name, the
 * process id and a random instance id): an agent starting on the host removes
 * the tags of processes of this host that no longer run, and nothing of a
 * live agent's builds.
 */
import { createHash, randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type Docker from "dockerode";
import { removeImage } from "./docker";

/** The local repository of every build; it is never pushed. */
export const BUILD_REPOSITORY = "dockify-build";
const TAG = /^dockify-build:([0-9a-f-]{36})-(\d+)\.([0-9a-f]{8})\.(\d+)\.([0-9a-f]{8})$/;

/** The agent process that made a build tag. */
export interface BuildOwner {
  /** The first 8 hex digits of the SHA-256 of the host name: which host's processes `pid` counts among. */
  host: string;
  pid: number;
  /** Random per process start: a restarted agent that got the same pid (pid 1 in a container) is still another process. */
  instance: string;
}

export function hostId(name = hostname()): string {
  return createHash("sha256").update(name).digest("hex").slice(0, 8);
}

/** This process, as the owner of the builds it tags. */
export const THIS_PROCESS: BuildOwner = { host: hostId(), pid: process.pid, instance: randomBytes(4).toString("hex") };

/**
 * `dockify-build:<job id>-<attempt>.<host>.<pid>.<instance>`. The protocol makes job ids UUIDs, which fit the tag
 * grammar (letters, digits, '-', '.'); the whole is at most 72 of 128 characters.
 */
export function buildTag(jobId: string, attempt: number, owner: BuildOwner = THIS_PROCESS): string {
  return `${BUILD_REPOSITORY}:${jobId}-${attempt}.${owner.host}.${owner.pid}.${owner.instance}`;
}

export function parseBuildTag(tag: string): { jobId: string; attempt: number; owner: BuildOwner } | undefined {
  const match = TAG.exec(tag);
  if (!match) return undefined;
  return { jobId: match[1]!, attempt: Number(match[2]), owner: { host: match[3]!, pid: Number(match[4]), instance: match[5]! } };
}

/** Whether a process of this host runs under `pid` (signal 0 tests without sending anything). */
export function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * A tag left by an agent that no longer runs: made on this host by a process that is gone, or by an earlier process
 * under this very pid. Tags of other hosts' agents (an Engine shared over TCP) are never judged from here.
 */
export function isLeftover(owner: BuildOwner, me: BuildOwner, runs: (pid: number) => boolean = processRuns): boolean {
  if (owner.host !== me.host) return false;
  if (owner.pid === me.pid) return owner.instance !== me.instance;
  return !runs(owner.pid);
}

/** Removes the build tags that agents of this host left when they were killed; returns the tags removed. */
export async function removeLeftoverTags(docker: Docker, status: (line: string) => void, me: BuildOwner = THIS_PROCESS): Promise<string[]> {
  const images = await docker.listImages({ filters: { reference: [BUILD_REPOSITORY] } });
  const leftovers = images
    .flatMap((image) => image.RepoTags ?? [])
    .filter((tag) => {
      const parsed = parseBuildTag(tag);
      return parsed !== undefined && isLeftover(parsed.owner, me);
    });
  const removed: string[] = [];
  for (const tag of leftovers) {
    const problem = await removeImage(docker, tag);
    if (problem) status(`could not remove ${tag}, left by an agent that no longer runs: ${problem}`);
    else removed.push(tag);
  }
  return removed;
}
