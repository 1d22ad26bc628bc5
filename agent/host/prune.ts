/**
 * What the agent removes when its host runs short of disk: only what agents made.
 *
 * - Build tags (`dockify-build:…`, the tag every build gets; build-tags.ts)
 *   on images created longer ago than this agent's build time limit. A build
 *   that finished removes its tag itself, and an agent starting removes those
 *   of its own host's dead processes; what is left is from agents on other
 *   hosts sharing the Engine, or from agents older than build tags that name
 *   their process. No build can still be using a tag that old: a build that
 *   runs past the limit is stopped (agents sharing one Engine should share
 *   the limit). A tag is the mark, not a label: a label would be pushed
 *   inside every user's image.
 * - Build cache the Engine's BuildKit has not used for an hour. The cache is
 *   the Engine's, not marked by who made it, and is kept under
 *   DOCKIFY_AGENT_CACHE_BYTES after every build anyway (builders/buildkit/cache.ts);
 *   on low disk, what was used within the hour is what the next builds hit,
 *   and is kept.
 *
 * Never forced: an image a container uses stays.
 */
import type Docker from "dockerode";
import { z } from "zod";
import { BUILD_REPOSITORY } from "../build-tags";
import { daemonError } from "../docker";

/** BuildKit's cache used within this long is kept (the Engine's `until` filter, a Go duration). */
export const KEEP_CACHE_USED_WITHIN = "1h";

export interface PruneReport {
  removedImages: string[];
  reclaimedBytes: number;
  /** What could not be removed, and why. */
  problems: string[];
}

const listedImage = z.object({ Id: z.string(), Created: z.number(), Size: z.number(), RepoTags: z.array(z.string()).nullable() });
const removal = z.array(z.object({ Deleted: z.string().optional(), Untagged: z.string().optional() }));
const cachePruned = z.object({ SpaceReclaimed: z.number().nullish() });

/** Removes this repository's tags on images created more than `olderThanSeconds` before `now` (ms). */
export async function pruneBuildImages(docker: Docker, olderThanSeconds: number, now: number): Promise<PruneReport> {
  const report: PruneReport = { removedImages: [], reclaimedBytes: 0, problems: [] };
  const listed = z.array(listedImage).parse(await docker.listImages({ filters: { reference: [BUILD_REPOSITORY] } }));
  const cutoff = now / 1000 - olderThanSeconds;
  for (const image of listed.filter(({ Created }) => Created < cutoff)) {
    for (const tag of (image.RepoTags ?? []).filter((name) => name.startsWith(`${BUILD_REPOSITORY}:`))) {
      try {
        const removed = removal.parse(await docker.getImage(tag).remove());
        report.removedImages.push(tag);
        // Its layers went only if the image did: another tag, or a child image, keeps them.
        if (removed.some(({ Deleted }) => Deleted === image.Id)) report.reclaimedBytes += image.Size;
      } catch (error) {
        report.problems.push(`${tag}: ${daemonError(error).message}`);
      }
    }
  }
  return report;
}

/** Prunes BuildKit cache not used within KEEP_CACHE_USED_WITHIN; returns the bytes reclaimed. */
export async function pruneBuildCache(docker: Docker): Promise<number> {
  // dockerode's pruneBuilder sends no filters: dial the endpoint with them (as a query string, no body).
  const answer: unknown = await new Promise((resolve, reject) =>
    docker.modem.dial(
      {
        path: "/build/prune?",
        method: "POST",
        // `all`: internal and frontend records (build contexts, `# syntax=` frontends) go too, as the cache bound counts them.
        options: { _query: { filters: { until: [KEEP_CACHE_USED_WITHIN] }, all: "1" }, _body: {} },
        statusCodes: { 200: true, 500: "server error" },
      },
      (error: unknown, data: unknown) => (error ? reject(daemonError(error)) : resolve(data)),
    ),
  );
  return cachePruned.parse(answer).SpaceReclaimed ?? 0;
}

/** What BuildKit's cache takes on the Engine's disk now, as `docker system df` counts it. */
export async function buildCacheBytes(docker: Docker): Promise<number> {
  const record = z.object({ Size: z.number(), Shared: z.boolean().optional() });
  const usage = z.object({ BuildCache: z.array(record).nullish() }).parse(await docker.df());
  // A shared record's bytes are counted under the record it is shared with.
  return (usage.BuildCache ?? []).filter(({ Shared }) => !Shared).reduce((sum, { Size }) => sum + Size, 0);
}
