/** The API's answers about a job, built here and typed by shared/api.ts: the seed's shapes and the fuller v1 record. */
import type { AgentView, Build, BuildOptionsView, PushedImage, SeedAccepted, SeedStatus, Upload, UploadDetail } from "../shared/api";
import { PAUSE_CAUSES } from "../shared/protocol";
import { formatReference, imageUrl } from "../shared/reference";
import type { AgentRecord, PublicJob, UploadPartRecord, UploadRecord } from "./pool/records";
import { partCount } from "./pool/uploads";

/** The seed's answer to an accepted build: names and sizes of the files, never their contents. */
export function toSeedAccepted(job: PublicJob): SeedAccepted {
  return {
    task_id: job.id,
    image_reference: formatReference(job),
    status: "Sent to processing queue",
    data: job.files,
  };
}

/** The seed's statuses are a view of the job states. */
export function toSeedStatus(job: PublicJob): SeedStatus {
  switch (job.state) {
    case "succeeded":
      return { status: "success", image_url: imageUrl(job), image_reference: formatReference(job), digest: job.digest, pushed: pushedOf(job) };
    case "failed":
    case "canceled":
      return { status: "failed", step: job.step ?? job.state, error: job.error ?? "the build did not finish" };
    default:
      // Said only when no connected agent could take it before someone acts; a busy pool is plain "processing", as in the seed.
      return job.waiting && job.waiting.kind !== "busy" ? { status: "processing", waiting: job.waiting.message } : { status: "processing" };
  }
}

/**
 * Every reference pushed with its digest (a success lists them all: jobs.ts ends one that does not as failed). A
 * success stored before agents listed what they pushed, or from such an agent, pushed only its own reference (jobs.ts
 * accepts no list only then): that one, with the digest the job has.
 */
function pushedOf(job: PublicJob): PushedImage[] {
  if (job.pushed === null && job.digest !== null && job.alsoPush.length === 0) {
    return [{ reference: formatReference(job), digest: job.digest }];
  }
  return (job.pushed ?? []).map(({ reference, digest }) => ({ reference, digest }));
}

function optionsOf({ options, alsoPush }: PublicJob): BuildOptionsView {
  return {
    dockerfile: options.dockerfile,
    build_args: options.buildArgs,
    target: options.target ?? null,
    no_cache: options.noCache,
    platform: options.platform ?? null,
    also_push: alsoPush.map(formatReference),
  };
}

export function toBuild(job: PublicJob): Build {
  return {
    id: job.id,
    state: job.state,
    attempt: job.attempt,
    image_reference: formatReference(job),
    image_url: imageUrl(job),
    digest: job.digest,
    pushed: pushedOf(job),
    options: optionsOf(job),
    image_id: job.imageId,
    step: job.step,
    error: job.error,
    labels: job.labels,
    waiting: job.waiting?.message ?? null,
    files: job.files,
    steps: (job.steps ?? []).map((step) => ({
      name: step.name,
      cached: step.cached,
      started_at: step.startedAt === null ? null : new Date(step.startedAt).toISOString(),
      duration_ms: step.durationMs,
      error: step.error ?? null,
    })),
    notify_url: job.notifyUrl,
    created_at: new Date(job.createdAt).toISOString(),
    started_at: job.startedAt === null ? null : new Date(job.startedAt).toISOString(),
    finished_at: job.finishedAt === null ? null : new Date(job.finishedAt).toISOString(),
  };
}

/** A connected agent as `GET /v1/agents` shows it to a tenant: no ids, no tokens, and only that tenant's builds by id. */
export function toAgentView(agent: AgentRecord, tenantBuilds: readonly string[]): AgentView {
  return {
    name: agent.name,
    version: agent.version,
    labels: agent.labels,
    slots: agent.concurrency,
    running: agent.running,
    builds: [...tenantBuilds],
    // Shutting down outranks a pause: a draining agent will not take builds again whatever its disk does.
    state: agent.draining ? "draining" : agent.paused ? "paused" : "ready",
    paused_reason: agent.paused ? `${PAUSE_CAUSES[agent.paused.cause]} (${agent.paused.detail})` : null,
    platform: agent.platform,
    builder: agent.builder,
    connected_at: new Date(agent.connectedAt).toISOString(),
    last_heartbeat_at: new Date(agent.lastSeenAt).toISOString(),
  };
}

/** What has arrived of an upload. */
export interface Received {
  parts: number;
  bytes: number;
}

export function received(parts: readonly UploadPartRecord[]): Received {
  return { parts: parts.length, bytes: parts.reduce((total, part) => total + part.size, 0) };
}

/** An upload as a listing shows it. */
export function toUploadSummary(upload: UploadRecord, arrived: Received): Upload {
  return {
    id: upload.id,
    state: upload.state,
    size: upload.size,
    part_size: upload.partSize,
    part_count: partCount(upload),
    parts_received: arrived.parts,
    received_bytes: arrived.bytes,
    context_bytes: upload.contextBytes,
    created_at: new Date(upload.createdAt).toISOString(),
    expires_at: new Date(upload.expiresAt).toISOString(),
  };
}

/** One upload with its parts, for a client that resumes it. */
export function toUploadDetail(upload: UploadRecord, parts: readonly UploadPartRecord[]): UploadDetail {
  return { ...toUploadSummary(upload, received(parts)), parts: parts.map(({ number, size, sha256 }) => ({ number, size, sha256 })) };
}
