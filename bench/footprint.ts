/**
 * Footprint: one idle agent (the bundled dockify-agent an operator installs,
 * dist/dockify-agent.js from scripts/bundle.ts, connected to a pool with
 * nothing to build) sampled once a second over a window: resident memory
 * and CPU. The baseline is a bare Node process doing nothing (a timer),
 * sampled alongside. Then the Worker's script as `wrangler deploy --dry-run
 * --outdir` bundles it, its size as wrangler reports it (gzip, what the
 * platform's limit counts) against the limits: 3 MiB (Free), 10 MiB (Paid).
 *
 *   npx tsx bench/footprint.ts [--seconds=60] [--json]
 */
import { execFile } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { cpuSeconds } from "../harness/cpu";
import { baseEnv, ManagedProcess } from "../harness/managed-process";
import { treePeaks } from "../harness/memory";
import { REPO_ROOT, tempDir } from "../harness/run-dir";
import { startStack } from "../harness/stack";
import { isMain, main, size, numberOption, progress, type Options, type Row } from "./figure";

const exec = promisify(execFile);
const KIB = 1024;
const MIB = 1024 ** 2;
/** Workers' limits on a script's compressed size. */
const LIMITS = { free: 3 * MIB, paid: 10 * MIB };

interface Sampled {
  meanRssBytes: number;
  maxRssBytes: number;
  cpuPercent: number;
}

/** Resident memory once a second and CPU over the whole window, of each pid. */
async function sample(pids: readonly number[], windowS: number): Promise<Sampled[]> {
  const rss = pids.map(() => [] as number[]);
  const cpuBefore = pids.map((pid) => cpuSeconds([pid]));
  const started = performance.now();
  for (let second = 0; second < windowS; second++) {
    await sleep(1_000);
    pids.forEach((pid, index) => rss[index]!.push(treePeaks(pid).find((entry) => entry.pid === pid)?.residentBytes ?? 0));
  }
  const elapsedS = (performance.now() - started) / 1000;
  return pids.map((pid, index) => ({
    meanRssBytes: rss[index]!.reduce((sum, value) => sum + value, 0) / rss[index]!.length,
    maxRssBytes: Math.max(...rss[index]!),
    cpuPercent: ((cpuSeconds([pid]) - cpuBefore[index]!) / elapsedS) * 100,
  }));
}

async function agentFootprint(windowS: number): Promise<Row> {
  progress("footprint: bundling dockify-agent");
  await exec(process.execPath, ["--import", "tsx", "scripts/bundle.ts"], { cwd: REPO_ROOT });
  const stack = await startStack({ agents: 0 });
  const bare = ManagedProcess.spawn({ name: "bare-node", command: process.execPath, args: ["-e", "setInterval(() => {}, 1000)"], cwd: REPO_ROOT, env: baseEnv() });
  try {
    const agent = stack.startAgent({
      command: [process.execPath, join(REPO_ROOT, "dist", "dockify-agent.js"), "start"],
      env: { DOCKIFY_URL: stack.worker.url, DOCKIFY_AGENT_TOKEN: stack.secrets.agentToken, DOCKIFY_AGENT_NAME: "footprint" },
    });
    await agent.waitForLine(/registered as agent/, { timeoutMs: 30_000 });
    // Past its start (module loading, the Engine's version, the first heartbeats).
    await sleep(3_000);
    progress(`footprint: sampling the idle agent for ${windowS} s`);
    const [ours, baseline] = await sample([agent.pid, bare.pid], windowS);
    return {
      figure: `idle agent (bundled dockify-agent, connected, heartbeat 5 s), ${windowS} s`,
      ours: `RSS ${size(ours!.meanRssBytes)} (max ${size(ours!.maxRssBytes)}), CPU ${ours!.cpuPercent.toFixed(2)}%`,
      baseline: `RSS ${size(baseline!.meanRssBytes)}, CPU ${baseline!.cpuPercent.toFixed(2)}% (bare node)`,
      ratio: `${(ours!.meanRssBytes / baseline!.meanRssBytes).toFixed(2)}x RSS`,
      note: `CPU is of one core, from /proc over the window (10 ms ticks)${windowS < 60 ? "; a short window: --seconds=60 for a minute" : ""}`,
      data: { windowS, agent: ours, bareNode: baseline },
    };
  } finally {
    await bare.stop(2_000);
    await stack.stop();
  }
}

async function bundleSize(): Promise<Row> {
  progress("footprint: wrangler deploy --dry-run");
  const outdir = tempDir("worker-bundle");
  const { stdout, stderr } = await exec(join(REPO_ROOT, "node_modules", ".bin", "wrangler"), ["deploy", "--dry-run", "--outdir", outdir], {
    cwd: REPO_ROOT,
    env: { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" },
  });
  const match = /Total Upload: ([\d.]+) KiB \/ gzip: ([\d.]+) KiB/.exec(stdout + stderr);
  if (!match) throw new Error(`wrangler deploy --dry-run did not print its upload size:\n${stdout}${stderr}`);
  const [rawBytes, gzipBytes] = [Number(match[1]) * KIB, Number(match[2]) * KIB];
  // Our own check of wrangler's figure: the script file gzipped.
  const script = readFileSync(join(outdir, "index.js"));
  return {
    figure: "Worker script (wrangler deploy --dry-run), gzip",
    ours: `${size(gzipBytes)} (${size(rawBytes)} raw)`,
    baseline: `${size(LIMITS.free)} Free / ${size(LIMITS.paid)} Paid limit`,
    ratio: `${((gzipBytes / LIMITS.free) * 100).toFixed(1)}% of Free`,
    note: `as wrangler reports it; index.js alone gzips to ${size(gzipSync(script).length)}; static assets (web/) are outside the script`,
    data: { rawBytes, gzipBytes, scriptBytes: statSync(join(outdir, "index.js")).size, scriptGzipBytes: gzipSync(script).length, limits: LIMITS },
  };
}

export async function run(options: Options = {}): Promise<Row[]> {
  const windowS = numberOption(options, "seconds", 60);
  return [await agentFootprint(windowS), await bundleSize()];
}

if (isMain(import.meta.url)) await main(run);
