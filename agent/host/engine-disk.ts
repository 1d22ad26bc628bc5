/**
 * Where the Docker Engine keeps its data (`docker info`'s DockerRootDir:
 * images, layers, build cache) and how much room is left there, measured with
 * statfs on this host. That only means something when the Engine runs on this
 * host: over a unix socket, or TCP to a loopback address.
 */
import { statfs } from "node:fs/promises";
import { isIP } from "node:net";
import type Docker from "dockerode";
import { z } from "zod";
import { describeError } from "../errors";
import type { DiskReading } from "./disk-policy";

export interface EngineDisk {
  /** The Engine's data root, e.g. /var/lib/docker. */
  root: string;
  read(): Promise<DiskReading>;
}

/** What docker-modem keeps of DOCKER_HOST: a socket path for unix://, a host for tcp:// and ssh://. */
const modemTarget = z.object({ socketPath: z.unknown().optional(), host: z.string().optional() });

/** Why the Engine's disk cannot be measured from here, or null when it is on this host. */
export function remoteEngine(docker: Docker): string | null {
  const { socketPath, host } = modemTarget.parse(docker.modem);
  if (socketPath !== undefined || host === undefined) return null;
  const hostname = host.replace(/^\[(.*)\]$/, "$1");
  if (hostname === "localhost" || hostname.startsWith("127.") || (isIP(hostname) === 6 && hostname === "::1")) return null;
  return `the Engine is on another host (${host}): its disk can be watched only there`;
}

export async function measure(root: string): Promise<DiskReading> {
  const stats = await statfs(root);
  // bavail, not bfree: blocks reserved for root are not room the Engine's writes can count on.
  return { freeBytes: stats.bavail * stats.bsize, totalBytes: stats.blocks * stats.bsize };
}

/** The Engine's data root and a way to measure it; or why it cannot be measured from here. */
export async function engineDisk(docker: Docker): Promise<EngineDisk | { unavailable: string }> {
  const remote = remoteEngine(docker);
  if (remote) return { unavailable: remote };
  let root: string;
  try {
    root = z.object({ DockerRootDir: z.string().min(1) }).parse(await docker.info()).DockerRootDir;
  } catch (error) {
    return { unavailable: `the Engine did not say where it keeps its data (docker info): ${describeError(error)}` };
  }
  try {
    await measure(root);
  } catch (error) {
    // Docker Desktop and similar keep the data root inside a VM: the path does not exist here.
    return { unavailable: `cannot measure ${root}, where the Engine keeps its data: ${describeError(error)}` };
  }
  return { root, read: () => measure(root) };
}
