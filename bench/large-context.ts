/**
 * A multi-gigabyte build context through Dockify, end to end, with the time
 * and memory each stage takes:
 *
 *   npx tsx bench/large-context.ts [GiB=5] [part MiB=16] [parallel parts=4]
 *
 * It starts its own registry, Worker (wrangler dev) and agent, like the
 * end-to-end suite, writes a context of random files to a temp file, sends it
 * as a chunked upload, completes it (the Worker checks and re-packs every
 * byte), builds it and pushes the image. The Dockerfile checks the files'
 * SHA-256 in a first stage and only the sums are pushed, so the figures are
 * the context's path, not a multi-gigabyte push. Before the check the Worker
 * is restarted, and before the build a fresh agent started, so each peak is
 * that stage's own. The Worker's CPU time during the check is read from
 * /proc: it includes wrangler dev's local R2, so it is an upper bound on
 * what the check costs the Worker itself (bench/repack-cpu.ts measures that
 * alone).
 *
 * Disk: the context, its parts in R2, the checked context, and Docker's copy
 * of the first stage: about four times the size, all removed at the end.
 */
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { ok } from "../harness/api";
import { checksumDockerfile, writeBigContext } from "../harness/big-context";
import { cpuSeconds } from "../harness/cpu";
import { pullImage, removeImage, removeImagesLabelled, runAndCapture } from "../harness/docker";
import { describePeak, processTree, treePeaks, type ProcessPeak } from "../harness/memory";
import { startStack } from "../harness/stack";
import { uploadFile } from "../harness/upload";

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;
const gib = Number(process.argv[2] ?? 5);
const partMib = Number(process.argv[3] ?? 16);
const parallel = Number(process.argv[4] ?? 4);
/** Files of at most 1 GiB: a context of many large files, as real ones with build artefacts have. */
const FILE_BYTES = GIB;

function rise(before: ProcessPeak[], after: ProcessPeak[]): number {
  return Math.max(0, ...after.map((process) => process.peakBytes - (before.find((earlier) => earlier.pid === process.pid)?.peakBytes ?? 0)));
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(0);
const seconds = (ms: number) => (ms / 1000).toFixed(1);

const run = randomBytes(6).toString("hex");
const label = `dockify.bench.run=${run}`;
const stack = await startStack({
  // Room for the context; the parts and the checked context both count against the tenant while it is checked.
  vars: { DOCKIFY_MAX_CONTEXT_BYTES: String(Math.ceil(gib + 1) * GIB), DOCKIFY_TENANT_MAX_CONTEXT_BYTES: String(Math.ceil(3 * gib + 1) * GIB) },
});
const path = join(stack.runDir, `bench-context-${run}.tar`);
try {
  const files: Record<string, number> = {};
  let left = Math.round(gib * GIB);
  for (let index = 0; left > 0; index++, left -= FILE_BYTES) files[`part-${index}.bin`] = Math.min(FILE_BYTES, left);
  console.log(`writing a ${gib} GiB context of random files…`);
  const context = await writeBigContext(path, { dockerfile: checksumDockerfile(stack.baseImage, label), files });

  const started = performance.now();
  let shown = 0;
  const sent = await uploadFile(stack.api, path, {
    partSize: partMib * MIB,
    concurrency: parallel,
    complete: false,
    onProgress: (bytes, total) => {
      if (bytes - shown >= total / 10) {
        shown = bytes;
        console.log(`  sent ${mb(bytes)} of ${mb(total)} MB`);
      }
    },
  });
  const uploaded = performance.now();

  await stack.worker.restart();
  const workerPids = processTree(stack.worker.process.pid);
  const workerBefore = treePeaks(stack.worker.process.pid);
  const cpuBefore = cpuSeconds(workerPids);
  const ready = ok(await stack.api.completeUpload(sent.id));
  const checked = performance.now();
  const cpu = cpuSeconds(workerPids) - cpuBefore;
  const workerAfter = treePeaks(stack.worker.process.pid);

  await stack.agent!.stop();
  const agent = stack.startAgent({ name: "bench-agent", env: { DOCKIFY_AGENT_BUILD_TIMEOUT_SECONDS: "7200" } });
  await agent.waitForLine(/registered as agent/, { timeoutMs: 30_000 });
  const agentBefore = treePeaks(agent.pid);
  const building = performance.now();
  const query = { user_name: stack.secrets.registryUser, repo: "bench-large", tag: run, registry: stack.registry.host };
  const build = ok(await stack.api.submitUploadBuild({ upload: ready.id, ...query }, { password: stack.secrets.registryPassword }), 202);
  const final = await stack.api.waitForStatus(build.id, { timeoutMs: 3 * 3600_000, intervalMs: 1000 });
  const built = performance.now();
  const agentAfter = treePeaks(agent.pid);
  if (final.status !== "success") throw new Error(`the build ended ${JSON.stringify(final)}`);
  const reference = `${stack.registry.host}/${stack.secrets.registryUser}/bench-large:${run}`;
  await pullImage(reference, { username: stack.secrets.registryUser, password: stack.secrets.registryPassword });
  const sums = await runAndCapture(reference, ["cat", "/sums"]);
  await removeImage(reference);
  if (sums !== context.sums) throw new Error(`the image's sums differ from the context's:\n${sums}\n${context.sums}`);

  const rate = (ms: number) => mb((context.bytes * 1000) / ms);
  console.log(
    [
      `large context: ${mb(context.bytes)} MB (${gib} GiB), ${sent.part_count} parts of ${partMib} MiB, ${parallel} at a time; every byte's SHA-256 checked in the image`,
      `  parts sent:                 ${seconds(uploaded - started)} s, ${rate(uploaded - started)} MB/s`,
      `  checked and re-packed:      ${seconds(checked - uploaded)} s, ${rate(checked - uploaded)} MB/s; Worker processes' CPU ${cpu.toFixed(1)} s (${((cpu * 1e9) / context.bytes).toFixed(1)} s per GB)`,
      `  built (agent → Docker):     ${seconds(built - building)} s, ${rate(built - building)} MB/s`,
      `  total:                      ${seconds(built - started)} s, ${rate(built - started)} MB/s`,
      `  Worker peak during check:   ${workerAfter.map(describePeak).join(", ")}; rose ${mb(rise(workerBefore, workerAfter))} MB`,
      `  agent peak during build:    ${agentAfter.map(describePeak).join(", ")}; rose ${mb(rise(agentBefore, agentAfter))} MB`,
    ].join("\n"),
  );
} finally {
  rmSync(path, { force: true });
  await removeImagesLabelled(label).catch(() => undefined);
  await stack.stop();
}
