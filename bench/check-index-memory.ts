/**
 * What the context check's index of names really costs in heap at its cap
 * (MAX_INDEX_BYTES, counted as name bytes plus a fixed cost per entry):
 *
 *   node --expose-gc --import tsx bench/check-index-memory.ts
 *
 * Admits entries into one ContextChecker until it refuses at the cap, for
 * three shapes of archive: flat short names, symlinks (a name and a target
 * each), and files spread over 1,000 folders; prints the entries admitted
 * and the heap they hold, measured after a full GC on both sides.
 */
import { ContextChecker, ContextError } from "../shared/context/rules";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc --import tsx");

function measure(shape: "flat" | "symlinks" | "folders"): { entries: number; heapMiB: number } {
  gc!();
  const before = process.memoryUsage().heapUsed;
  const checker = new ContextChecker({ maxEntries: Number.MAX_SAFE_INTEGER });
  let entries = 0;
  try {
    for (;; entries++) {
      if (shape === "symlinks") checker.admit({ name: `s${entries}`, type: "symlink", mode: 0o777, size: 0, mtime: 0, linkname: `t${entries}` });
      else checker.admit({ name: shape === "flat" ? `f${entries}` : `d${entries % 1000}/f${entries}`, type: "file", mode: 0o644, size: 0, mtime: 0, linkname: "" });
    }
  } catch (error) {
    if (!(error instanceof ContextError)) throw error;
  }
  gc!();
  const heapMiB = (process.memoryUsage().heapUsed - before) / 1024 / 1024;
  // Referenced after the measurement, so the index is alive while it is measured.
  if (checker.finish.length < 0) throw new Error("unreachable");
  return { entries, heapMiB };
}

for (const shape of ["flat", "symlinks", "folders"] as const) {
  const { entries, heapMiB } = measure(shape);
  console.log(`${shape.padEnd(8)} ${String(entries).padStart(7)} entries  ${heapMiB.toFixed(1)} MiB of heap`);
}
