/**
 * Which cgroup controllers this host's kernel offers, read where the kernel
 * says it: `/sys/fs/cgroup/cgroup.controllers` under cgroup v2, the enabled
 * column of `/proc/cgroups` under v1. Only meaningful when the Engine runs here.
 */
import { readFile } from "node:fs/promises";

export interface CgroupControllers {
  version: 1 | 2;
  controllers: ReadonlySet<string>;
}

export async function cgroupControllers(root = "/"): Promise<CgroupControllers | undefined> {
  const v2 = await readFile(`${root}sys/fs/cgroup/cgroup.controllers`, "utf8").catch(() => undefined);
  if (v2 !== undefined) return { version: 2, controllers: new Set(v2.split(/\s+/).filter(Boolean)) };
  const v1 = await readFile(`${root}proc/cgroups`, "utf8").catch(() => undefined);
  if (v1 === undefined) return undefined;
  // `#subsys_name hierarchy num_cgroups enabled`, one controller a line.
  const enabled = v1
    .split("\n")
    .filter((line) => line && !line.startsWith("#"))
    .map((line) => line.split(/\s+/))
    .filter((fields) => fields[3] === "1")
    .map((fields) => fields[0]!);
  return { version: 1, controllers: new Set(enabled) };
}
