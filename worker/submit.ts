/**
 * Accepting a validated build: the tenant's limits, the context into R2, the
 * job into the pool. Either all of it happens or nothing stays stored.
 */
import { DOCKERFILE_PATH } from "../shared/context-path";
import type { BuildRequest } from "./build-request";
import { deleteContext, storeContext } from "./contexts";
import type { Env } from "./env";
import { ApiError } from "./errors";
import type { FilesSummary } from "./pool/store";
import { poolStub } from "./pool/stub";
import type { PublicJob } from "./pool/view";
import { seal } from "./secrets";
import { tarLength, type TarEntry } from "./tar";

const FILE_MODE = 0o644;

function contextEntries({ dockerfile, files }: BuildRequest): TarEntry[] {
  return [
    { name: DOCKERFILE_PATH, size: dockerfile.size, mode: FILE_MODE, body: () => dockerfile.stream() },
    ...files.map(({ name, file }) => ({ name, size: file.size, mode: FILE_MODE, body: () => file.stream() })),
  ];
}

function filesSummary({ dockerfile, files }: BuildRequest): FilesSummary {
  return {
    dockerfile: { filename: dockerfile.name, size: dockerfile.size },
    optional_files: Object.fromEntries(files.map(({ name, file }) => [name, { size: file.size }])),
  };
}

export async function submitBuild(env: Env, tenant: string, build: BuildRequest): Promise<PublicJob> {
  const pool = poolStub(env);
  // A retry of a build already accepted answers with that build, before anything is stored again.
  const retried = build.idempotencyKey ? await pool.findByIdempotencyKey(tenant, build.idempotencyKey) : null;
  if (retried) return retried;

  const entries = contextEntries(build);
  const contextBytes = tarLength(entries);
  // Checked before the upload to refuse early, and again by the pool, which serializes submissions.
  const refused = await pool.admit(tenant, contextBytes);
  if (refused) throw new ApiError(429, refused, "tenant");

  const jobId = crypto.randomUUID();
  const sealedPassword = build.password ? await seal(env.DOCKIFY_SECRET_KEY, jobId, build.password) : null;
  await storeContext(env.BUCKET, jobId, entries);
  try {
    const enqueued = await pool.enqueue({
      id: jobId,
      tenant,
      ...build.image,
      userName: build.userName,
      labels: build.labels,
      sealedPassword,
      files: filesSummary(build),
      contextBytes,
      idempotencyKey: build.idempotencyKey,
    });
    if ("refused" in enqueued) throw new ApiError(429, enqueued.refused, "tenant");
    // Lost a race with a concurrent retry under the same key: that build stands, this upload goes.
    if (!enqueued.created) await deleteContext(env.BUCKET, jobId);
    return enqueued.job;
  } catch (error) {
    // Never leave half a job behind: no queue entry means no stored context either.
    await deleteContext(env.BUCKET, jobId);
    throw error;
  }
}
