/**
 * Accepting a validated build: the tenant's limits, the context into R2, the
 * job into the pool. Either all of it happens or nothing stays stored.
 */
import { IDEMPOTENCY_HEADER } from "../shared/api";
import { formatReference } from "../shared/reference";
import { deleteContext } from "./context/store";
import type { Env } from "./env";
import { ApiError } from "./errors";
import type { PublicJob } from "./pool/records";
import { fleet } from "./fleet";
import { tenantPoolStub } from "./pool/stub";
import type { BuildRequest, BuildSpec } from "./requests/build-spec";
import { seal } from "./secrets";
import { notifyUrlFor } from "./webhooks/config";

/** A retry must name the same image: a key reused for another build is a client bug, not a retry. */
function sameBuild(existing: PublicJob, spec: BuildSpec): PublicJob {
  if (formatReference(existing) !== formatReference(spec.image)) {
    throw new ApiError(
      422,
      `${IDEMPOTENCY_HEADER} was already used for the build of ${formatReference(existing)} (${existing.id}); use a new key for another build`,
      IDEMPOTENCY_HEADER,
    );
  }
  return existing;
}

export async function submitBuild(env: Env, tenant: string, { spec, context, files }: BuildRequest): Promise<PublicJob> {
  // A reserved label outside the tenant's pool is refused before anything is stored (fleet.ts).
  const refusedLabel = fleet(env).refusedBuildLabel(tenant, spec.labels);
  if (refusedLabel) throw new ApiError(403, refusedLabel, "labels");
  const notify = notifyUrlFor(env, tenant, spec.notifyUrl);
  if ("refused" in notify) throw new ApiError(400, `notify_url ${notify.refused}`, "notify_url");
  const pool = tenantPoolStub(env, tenant);
  // A retry of a build already accepted answers with that build, before anything is stored again.
  const retried = spec.idempotencyKey ? await pool.findByIdempotencyKey(tenant, spec.idempotencyKey) : null;
  if (retried) return sameBuild(retried, spec);

  // Checked before the upload to refuse early, and again by the pool, which serializes submissions.
  const refused = await pool.admit(tenant, context.bytes);
  if (refused) throw new ApiError(429, refused, "tenant");

  const jobId = crypto.randomUUID();
  const sealedPassword = spec.password ? await seal(env.DOCKIFY_SECRET_KEY, jobId, spec.password) : null;
  try {
    await context.write(env.BUCKET, jobId);
    const enqueued = await pool.enqueue({
      id: jobId,
      tenant,
      ...spec.image,
      userName: spec.userName,
      labels: spec.labels,
      sealedPassword,
      files,
      contextBytes: context.bytes,
      idempotencyKey: spec.idempotencyKey,
      notifyUrl: notify.url,
    });
    if ("refused" in enqueued) throw new ApiError(429, enqueued.refused, "tenant");
    // Lost a race with a concurrent retry under the same key: that build stands, this upload goes.
    if (!enqueued.created) await deleteContext(env.BUCKET, jobId);
    return enqueued.created ? enqueued.job : sameBuild(enqueued.job, spec);
  } catch (error) {
    // Never leave half a job behind: no queue entry means no stored context either.
    await deleteContext(env.BUCKET, jobId);
    throw error;
  }
}
