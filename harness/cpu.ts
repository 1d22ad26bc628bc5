/**
 * CPU time of processes, from Linux's /proc/<pid>/stat (user + system), for
 * benches that say how busy a process was over a stretch of time.
 */
import { readFileSync } from "node:fs";

/** USER_HZ: the unit of /proc's CPU times; 100 on every Linux this runs on. */
const TICKS_PER_SECOND = 100;

/** CPU seconds (user + system) the processes have used so far; ones that exited meanwhile count nothing. */
export function cpuSeconds(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      total += (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
    } catch {
      // exited meanwhile
    }
  }
  return total;
}
