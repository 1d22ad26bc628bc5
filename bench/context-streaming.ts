/**
 * Context streaming: a build context of random files (100 MB; 2 GB with
 * --large, not in `npm run bench`'s default run) sent through the chunked
 * upload (harness/upload.ts: parts in parallel, each with its SHA-256, then
 * completed, which has the Worker check and re-pack every byte), built and
 * pushed: MB/s end to end, from the first part sent to status `success`,
 * against `docker build` of the same tar locally (BuildKit through the
 * Engine API, bench/builds.ts) and its push. The Dockerfile sums the files
 * in a first stage and only the sums are pushed (harness/big-context.ts), so
 * the figure is the context's path, not a large push; the image's sums are
 * checked against the context's afterwards. Peak resident memory of the
 * agent and of workerd over the run, and how much each rose.
 *
 *   npx tsx bench/context-streaming.ts [--mb=100] [--large] [--json]
 *
 * Disk: the context, its parts in R2, the checked context and Docker's copy
 * of the first stage, about four times the size, all removed at the end.
 */
import { randomBytes } from "node:crypto";
import { createReadStream, rmSync } from "node:fs";
import { join } from "node:path";
import { ok } from "../harness/api";
import { checksumDockerfile, writeBigContext } from "../harness/big-context";
import { pullImage, removeImage, removeImagesLabelled, runAndCapture } from "../harness/docker";
import { treePeaks, type ProcessPeak } from "../harness/memory";
import { startStack } from "../harness/stack";
import { uploadFile } from "../harness/upload";
import { isMain, main, numberOption, progress, ratio, seconds, size, type Options, type Row } from "./figure";
import { directTar } from "./builds";

const MB = 1e6;
const MIB = 1024 ** 2;
/** Files of at most 256 MiB: a context of several large files, as real ones with build artefacts have. */
const FILE_BYTES = 256 * MIB;
const LARGE_MB = 2048;

const peakOf = (peaks: ProcessPeak[]) => peaks.reduce((sum, entry) => sum + entry.peakBytes, 0);
const workerdPeaks = (pid: number) => treePeaks(pid).filter((entry) => entry.command === "workerd");

export async function run(options: Options = {}): Promise<Row[]> {
  const megabytes = options.large ? LARGE_MB : numberOption(options, "mb", 100);
  const bytes = Math.round(megabytes * MB);
  const stack = await startStack({
    // Room for the context; its parts and the checked context both count against the tenant while it is checked.
    vars: { DOCKIFY_MAX_CONTEXT_BYTES: String(2 * bytes), DOCKIFY_TENANT_MAX_CONTEXT_BYTES: String(4 * bytes) },
  });
  const id = randomBytes(6).toString("hex");
  const label = `dockify.bench.run=${id}`;
  const path = join(stack.runDir, `bench-context-${id}.tar`);
  const auth = { username: stack.secrets.registryUser, password: stack.secrets.registryPassword };
  try {
    const files: Record<string, number> = {};
    for (let index = 0, left = bytes; left > 0; index++, left -= FILE_BYTES) files[`part-${index}.bin`] = Math.min(FILE_BYTES, left);
    progress(`context streaming: writing a ${megabytes} MB context of random files`);
    const context = await writeBigContext(path, { dockerfile: checksumDockerfile(stack.baseImage, label), files });

    progress("context streaming: docker build of the same tar locally, and push");
    const directMs = await directTar(stack, id, () => createReadStream(path), "bench-stream-direct");

    const agentPid = stack.agent!.pid;
    const before = { agent: peakOf(treePeaks(agentPid)), workerd: peakOf(workerdPeaks(stack.worker.process.pid)) };
    progress("context streaming: chunked upload, build and push through Dockify");
    const started = performance.now();
    const upload = await uploadFile(stack.api, path);
    const uploadedMs = performance.now() - started;
    const query = { upload: upload.id, user_name: stack.secrets.registryUser, repo: "bench-stream", tag: id, registry: stack.registry.host };
    const build = ok(await stack.api.submitUploadBuild(query, { password: stack.secrets.registryPassword }), 202);
    const final = await stack.api.waitForStatus(build.id, { timeoutMs: 3_600_000, intervalMs: 200 });
    const oursMs = performance.now() - started;
    const after = { agent: peakOf(treePeaks(agentPid)), workerd: peakOf(workerdPeaks(stack.worker.process.pid)) };
    if (final.status !== "success") throw new Error(`the build ended ${JSON.stringify(final)}`);

    // Every byte arrived: the image's sums are the context's.
    const reference = `${stack.registry.host}/${stack.secrets.registryUser}/bench-stream:${id}`;
    await pullImage(reference, auth);
    const sums = await runAndCapture(reference, ["cat", "/sums"]);
    await removeImage(reference);
    if (sums !== context.sums) throw new Error(`the image's sums differ from the context's:\n${sums}\n${context.sums}`);

    const rate = (ms: number) => `${(context.bytes / MB / (ms / 1000)).toFixed(1)} MB/s`;
    return [
      {
        figure: `context streaming: ${megabytes} MB of random files, chunked upload → build → push`,
        ours: `${rate(oursMs)} (${seconds(oursMs)})`,
        baseline: `${rate(directMs)} (${seconds(directMs)}) docker build locally`,
        ratio: `${ratio(oursMs, directMs)} time`,
        note:
          `upload ${seconds(uploadedMs)} (${upload.part_count} parts of ${size(upload.part_size)}), then check, build, push ${seconds(oursMs - uploadedMs)}; ` +
          `peak RSS agent ${size(after.agent)} (+${size(after.agent - before.agent)}), workerd ${size(after.workerd)} (+${size(after.workerd - before.workerd)}); the image's sums match`,
        data: { bytes: context.bytes, oursMs, uploadedMs, directMs, parts: upload.part_count, partSize: upload.part_size, peaks: { before, after } },
      },
    ];
  } finally {
    rmSync(path, { force: true });
    await removeImagesLabelled(label).catch(() => undefined);
    await stack.stop();
  }
}

if (isMain(import.meta.url)) await main(run);
