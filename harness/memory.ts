/**
 * Peak memory of a process and its descendants, from Linux's /proc: each
 * process's VmHWM is the most resident memory it has held since it started.
 * Tests and benches read it before and after a workload to bound what the
 * workload cost (wrangler dev is a node process with workerd children; the
 * agent is one node process).
 */
import { readdirSync, readFileSync } from "node:fs";

export interface ProcessPeak {
  pid: number;
  /** The executable's short name, e.g. `workerd` or `node`. */
  command: string;
  /** Peak resident memory so far, in bytes. */
  peakBytes: number;
  /** Resident memory now, in bytes. */
  residentBytes: number;
}

function parentOf(pid: string): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return null;
  }
}

/** The pid and every descendant of it that is alive now. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    const parent = parentOf(entry);
    if (parent !== null) children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
  }
  const tree: number[] = [];
  const pending = [root];
  while (pending.length > 0) {
    const pid = pending.pop()!;
    tree.push(pid);
    pending.push(...(children.get(pid) ?? []));
  }
  return tree;
}

function statusField(status: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status);
  return match ? Number(match[1]) * 1024 : 0;
}

/** Peak and current memory of `root` and its descendants, one entry each (processes that exited meanwhile are left out). */
export function treePeaks(root: number): ProcessPeak[] {
  const peaks: ProcessPeak[] = [];
  for (const pid of processTree(root)) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      const command = /^Name:\s+(.*)$/m.exec(status)?.[1] ?? "?";
      peaks.push({ pid, command, peakBytes: statusField(status, "VmHWM"), residentBytes: statusField(status, "VmRSS") });
    } catch {
      // exited meanwhile
    }
  }
  return peaks;
}

/** `workerd 412 MiB (pid 123)`, for logs. */
export function describePeak(peak: ProcessPeak): string {
  return `${peak.command} ${(peak.peakBytes / 1024 ** 2).toFixed(0)} MiB (pid ${peak.pid})`;
}
