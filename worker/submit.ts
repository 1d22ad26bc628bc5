/**
 * Accepting a validated build: the tenant's limits, the context into R2, the
 * job into the pool. Either all of it happens or nothing stays stored: the
 * pool records the intent to write a context before the first byte goes to
 * R2, and the job takes that context over in the step that creates it; a
 * request that dies in between leaves a row whose expiry makes the pool's
 * alarm remove what it wrote (pool/uploads.ts).
 */
import { IDEMPOTENCY_HEADER } from "../shared/api";
import { DOCKERFILE_PATH } from "../shared/context-path";
import { authServerAddress, formatReference } from "../shared/reference";
import { readDockerfile } from "./context/dockerfile";
import { contextKey } from "./context/keys";
import { deleteContext, storeCheckedContext } from "./context/store";
import type { Env } from "./env";
import { ApiError } from "./errors";
import { fleet } from "./fleet";
import { keepAlive } from "./keep-alive";
import { sealCredentials } from "./pool/job-secret";
import type { NewJob, PublicJob } from "./pool/records";
import { tenantPoolStub, type PoolStub } from "./pool/stub";
import type { BuildRequest, BuildSpec, ContextSource } from "./requests/build-spec";
import { seal } from "./secrets";
import { settings } from "./settings";
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

type RequestContext = Extract<ContextSource, { kind: "request" }>;

/** Removes a request's context that no build took, then its row; if R2 fails, the row stays and the sweep does it. */
async function forget(env: Env, pool: PoolStub, jobId: string): Promise<void> {
  try {
    await deleteContext(env.BUCKET, contextKey(jobId));
    await pool.forgetUpload(jobId);
  } catch (error) {
    console.error(`job ${jobId}: could not remove its unused context; the pool's sweep will: ${String(error)}`);
  }
}

/**
 * Checks and stores the request's own context under the job's key, recorded in the pool first; returns its bytes.
 * A refusal removes what was written (and the row) before it is answered.
 */
async function storeRequestContext(env: Env, pool: PoolStub, tenant: string, jobId: string, context: RequestContext, dockerfile: string): Promise<number> {
  const key = contextKey(jobId);
  const limits = settings(env);
  await pool.beginContextWrite(jobId, tenant, key, context.reservedBytes);
  const written = { bytes: 0 };
  const alive = keepAlive(() => pool.renewUpload(jobId, null, written.bytes));
  try {
    return await storeCheckedContext(env.BUCKET, key, context.chunks(), {
      maxEntries: limits.maxContextEntries,
      maxBytes: limits.maxContextBytes,
      maxDockerfileBytes: limits.maxDockerfileBytes,
      dockerfile,
      signal: alive.signal,
      written,
      onMultipart: async (multipartId) => {
        await pool.recordMultipart(jobId, null, multipartId);
      },
    });
  } catch (error) {
    // The refusal is answered only after the body has been read to its end (requests/body.ts says why).
    await context.drain();
    await forget(env, pool, jobId);
    throw error instanceof ApiError ? error : (context.failure() ?? error);
  } finally {
    alive.stop();
  }
}

/** A build from a completed upload whose Dockerfile is not at the root: the file must be in the upload's context. */
async function checkUploadDockerfile(env: Env, pool: PoolStub, tenant: string, uploadId: string, dockerfile: string): Promise<void> {
  const found = await pool.uploadOf(uploadId, tenant);
  // An unknown or unfinished upload is refused by the pool's enqueue, with its own answer.
  if (!found || found.upload.state !== "ready") return;
  const maxBytes = settings(env).maxDockerfileBytes;
  const read = await readDockerfile(env.BUCKET, found.upload.contextKey, dockerfile, maxBytes);
  if ("text" in read) return;
  switch (read.problem) {
    case "too-large":
      throw new ApiError(413, `dockerfile: ${dockerfile} in the upload's context is more than ${maxBytes} bytes (DOCKIFY_MAX_DOCKERFILE_BYTES)`, "dockerfile");
    case "gone":
      throw new ApiError(409, `upload: the upload's context is no longer stored; upload it again`, "upload");
    default:
      throw new ApiError(400, `dockerfile: the upload's context has no regular file at ${dockerfile}`, "dockerfile");
  }
}

export async function submitBuild(env: Env, tenant: string, { spec, context, files }: BuildRequest): Promise<PublicJob> {
  // A reserved label outside the tenant's pool is refused before anything is stored (fleet.ts).
  const refusedLabel = fleet(env).refusedBuildLabel(tenant, spec.labels);
  if (refusedLabel) {
    if (context.kind === "request") await context.drain();
    throw new ApiError(403, refusedLabel, "labels");
  }
  const notify = notifyUrlFor(env, tenant, spec.notifyUrl);
  if ("refused" in notify) {
    if (context.kind === "request") await context.drain();
    throw new ApiError(400, `notify_url ${notify.refused}`, "notify_url");
  }
  const pool = tenantPoolStub(env, tenant);
  // A retry of a build already accepted answers with that build, before anything is stored again.
  const retried = spec.idempotencyKey ? await pool.findByIdempotencyKey(tenant, spec.idempotencyKey) : null;
  if (retried) {
    if (context.kind === "request") await context.drain();
    return sameBuild(retried, spec);
  }

  const jobId = crypto.randomUUID();
  // A completed upload was checked for a Dockerfile at its root; one the build names elsewhere is looked for now.
  if (context.kind === "upload" && spec.options.dockerfile !== DOCKERFILE_PATH) await checkUploadDockerfile(env, pool, tenant, context.uploadId, spec.options.dockerfile);
  if (context.kind === "request") {
    // Checked before the upload to refuse early, and again by the pool, which serializes submissions.
    const refused = await pool.admit(tenant, context.reservedBytes);
    if (refused) {
      await context.drain();
      throw new ApiError(429, refused, "tenant");
    }
  }
  const sealedPassword = spec.password ? await seal(env.DOCKIFY_SECRET_KEY, jobId, spec.password) : null;
  const sealedCredentials = await sealCredentials(env, jobId, {
    logins: Object.entries(spec.logins).map(([host, { username, password }]) => ({ username, password, serveraddress: authServerAddress(host) })),
    secrets: Object.entries(spec.secrets).map(([id, value]) => ({ id, value })),
  });
  const stored =
    context.kind === "request" ? await storeRequestContext(env, pool, tenant, jobId, context, spec.options.dockerfile) : context.contextBytes;
  // The upload row the job takes its context from: the request's own, or the chunked upload's.
  const upload = context.kind === "request" ? jobId : context.uploadId;
  const job: NewJob = {
    id: jobId,
    tenant,
    ...spec.image,
    userName: spec.userName,
    labels: spec.labels,
    sealedPassword,
    sealedCredentials,
    options: spec.options,
    alsoPush: spec.alsoPush,
    files,
    // The pool fills in the upload's key; this is the request's own.
    contextKey: contextKey(jobId),
    contextBytes: stored,
    idempotencyKey: spec.idempotencyKey,
    notifyUrl: notify.url,
  };
  const enqueued = await pool.enqueue(job, upload);
  if ("refused" in enqueued) {
    // A request's context goes with its refusal; a chunked upload stays, to be built once there is room.
    if (context.kind === "request") await forget(env, pool, jobId);
    throw new ApiError(enqueued.status, enqueued.refused, enqueued.status === 429 ? "tenant" : context.kind === "upload" ? "upload" : "context");
  }
  if (!enqueued.created) {
    // Lost a race with a concurrent retry under the same key: that build stands, this upload goes.
    if (context.kind === "request") await forget(env, pool, jobId);
    return sameBuild(enqueued.job, spec);
  }
  return enqueued.job;
}
