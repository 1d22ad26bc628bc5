/**
 * The disk guard against the real Engine and this machine's real disk: with
 * its thresholds set above the free space where the Engine keeps its data, the
 * agent prunes what it left (an old leftover build image goes, a recent one
 * stays), connects paused, and a build waits saying so; restarted with a lower
 * threshold, it takes the build, which builds and pushes.
 */
import { statfs } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTag } from "../../agent/build-tags";
import { ok } from "../../harness/api";
import { buildFromFiles, docker, imageId, loadImage, removeImage } from "../../harness/docker";
import { scrape } from "../../harness/metrics";
import { registryDigest } from "../../harness/registry-image";
import { startStack, type Stack } from "../../harness/stack";

const NAME = "disk-guard";
/**
 * This agent prunes only build images older than its time limit: at its largest (about 24.8 days), so that other
 * agents' images on this shared Engine are safe, and the leftover below, from 2020, is not.
 */
const LONGEST_TIME_LIMIT = "2147483";
const GIB = 1024 ** 3;

let stack: Stack;
/**
 * Build tags of an agent on another host sharing this Engine: the tags an agent removes at start (those of its own
 * host's dead processes) are not these, so only the disk guard's age rule can take them.
 */
const elsewhere = { host: "0badc0de", pid: 4242, instance: "feedface" };
const oldLeftover = buildTag(crypto.randomUUID(), 1, elsewhere);
const recentLeftover = buildTag(crypto.randomUUID(), 1, elsewhere);

beforeAll(async () => {
  stack = await startStack({ agents: 0 });
  // What an agent killed mid-build leaves: its build's tag. One from long ago, one from a moment ago.
  await loadImage(oldLeftover, { "left.txt": "left over by a crashed agent\n" }, new Date("2020-01-01T00:00:00Z"));
  // Content of its own, so the classic builder cannot reuse a layer another run on this Engine may be removing.
  await buildFromFiles(recentLeftover, {
    Dockerfile: "FROM scratch\nCOPY left.txt /\n",
    "left.txt": `left over just now (${crypto.randomUUID()})\n`,
  });
});

afterAll(async () => {
  await Promise.allSettled([removeImage(oldLeftover), removeImage(recentLeftover)]);
  await stack?.stop();
});

/** Free space where the Engine keeps its data, measured as the agent measures it. */
async function engineFreeBytes(): Promise<number> {
  const { DockerRootDir } = (await docker.info()) as { DockerRootDir: string };
  const stats = await statfs(DockerRootDir);
  return stats.bavail * stats.bsize;
}

describe("the disk guard", () => {
  it("prunes its own leftovers, stops taking builds below the threshold with the reason shown, and takes them once it is lowered", async () => {
    // A size above the free space, whatever this machine has: the guard's thresholds for the first agent.
    const aboveFree = `${Math.ceil((await engineFreeBytes()) / GIB) + 1}g`;
    const low = stack.startAgent({
      name: NAME,
      env: {
        DOCKIFY_AGENT_PRUNE_BELOW: aboveFree,
        DOCKIFY_AGENT_STOP_BELOW: aboveFree,
        DOCKIFY_AGENT_BUILD_TIMEOUT_SECONDS: LONGEST_TIME_LIMIT,
        DOCKIFY_AGENT_METRICS_ADDR: "127.0.0.1:0",
      },
    });
    await low.waitForLine(/low disk: .* free in \/.*: taking no new builds until space returns/);
    const pruned = await low.waitForLine(/^\S+ pruned .* and unused build cache: .* reclaimed$/);
    expect(pruned).toContain(oldLeftover);
    expect(pruned).not.toContain(recentLeftover);
    expect(await imageId(oldLeftover)).toBeUndefined();
    expect(await imageId(recentLeftover)).toBeDefined();
    const metricsUrl = /(http:\/\/127\.0\.0\.1:\d+)\/metrics/.exec(await low.waitForLine(/metrics on /))![1]!;
    await low.waitForLine(/registered as agent/);

    const agents = ok(await stack.api.agents()).agents;
    expect(agents).toHaveLength(1);
    expect(agents[0]).toMatchObject({ name: NAME, state: "paused", paused_reason: expect.stringMatching(/^low disk \(.* free of .*, under .* \(DOCKIFY_AGENT_STOP_BELOW=\d+ GiB\)\)$/) });

    const { task_id: id } = ok(
      await stack.api.submitSeedBuild({
        query: { user_name: stack.secrets.registryUser, repo: "disk", tag: "v1", registry: stack.registry.host },
        fields: { password: stack.secrets.registryPassword },
        dockerfile: `FROM ${stack.baseImage}\nRUN echo built after the disk came back > /note.txt\n`,
      }),
    );
    const waiting = `every agent that can build it is paused: ${agents[0]!.paused_reason!.replace(/^low disk /, `low disk on ${NAME} `)}`;
    expect((await stack.api.status(id)).body).toEqual({ status: "processing", waiting });
    // Still waiting a moment later: nothing was assigned, no attempt was spent.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(ok(await stack.api.build(id))).toMatchObject({ state: "queued", attempt: 0, waiting });

    const metrics = await scrape(`${metricsUrl}/metrics`);
    expect(metrics.value("dockify_agent_paused")).toBe(1);
    const free = metrics.value("dockify_agent_disk_free_bytes");
    expect(free).toBeGreaterThan(0);
    expect(free).toBeLessThan(Number.parseInt(aboveFree, 10) * GIB);
    expect(metrics.value("dockify_agent_disk_size_bytes")).toBeGreaterThan(free);
    expect(metrics.value("dockify_agent_pruned_bytes_total")).toBeGreaterThan(0);
    const health = await fetch(`${metricsUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "ok", paused: true });

    // Lowering the threshold is a restart with the new setting: that agent takes the build at once.
    await low.stop();
    const lowered = stack.startAgent({ name: NAME, env: { DOCKIFY_AGENT_PRUNE_BELOW: "1g", DOCKIFY_AGENT_STOP_BELOW: "1g" } });
    const final = await stack.api.waitForStatus(id);
    expect(final).toMatchObject({ status: "success" });
    const auth = { username: stack.secrets.registryUser, password: stack.secrets.registryPassword };
    expect(await registryDigest(stack.registry.host, auth, `${stack.secrets.registryUser}/disk`, "v1")).toBe((final as { digest: string }).digest);
    expect(lowered.output()).not.toMatch(/low disk/);
    expect(await imageId(recentLeftover)).toBeDefined();
  });
});
