/** What the pool keeps about jobs and agents, and how a SQLite row becomes one. */
import type { FilesSummary, UploadState } from "../../shared/api";
import type { JobState } from "../../shared/job";
import type { Labels } from "../../shared/labels";
import { contextKey } from "../context/keys";
import type { BuildOptions, BuildStep, Pause, PushedImage } from "../../shared/protocol";
import type { ImageName } from "../../shared/reference";
import type { Waiting } from "./dispatch";
import type { JobEnd, JobLease } from "./jobs";

export interface NewJob {
  id: string;
  tenant: string;
  registry: string;
  path: string;
  tag: string;
  userName: string;
  /** Only agents with all of these labels may build it. */
  labels: Labels;
  sealedPassword: ArrayBuffer | null;
  /** The logins of X-Registry-Logins and the build secrets, sealed together (job-secret.ts); null when it has neither. */
  sealedCredentials: ArrayBuffer | null;
  /** How to build it; defaults are a plain `docker build`'s. */
  options: BuildOptions;
  /** More references pushed from the same build, after its own. */
  alsoPush: ImageName[];
  /** What the submitter sent, for the response: names and sizes, never contents. */
  files: FilesSummary;
  /** Where the checked context is in R2; the job deletes it when it ends. */
  contextKey: string;
  contextBytes: number;
  idempotencyKey: string | null;
  /** Where the pool POSTs the build's record when it ends (webhooks.ts); null: nowhere. */
  notifyUrl: string | null;
}

export interface JobRecord extends Omit<NewJob, "idempotencyKey">, JobLease, JobEnd {
  createdAt: number;
  /** When an agent was first assigned it; null while it has never started. */
  startedAt: number | null;
  updatedAt: number;
  finishedAt: number | null;
}

/** What the pool tells the API about a job: everything but its secret and its lease. */
export type PublicJob = Omit<JobRecord, "sealedPassword" | "sealedCredentials" | "leaseHash" | "agentId" | "leaseExpiresAt"> & {
  /** Why a queued job has not started; null once it has. */
  waiting: Waiting | null;
};

export function publicJob(job: JobRecord, waiting: Waiting | null): PublicJob {
  const { sealedPassword: _sealed, sealedCredentials: _credentials, leaseHash: _hash, agentId: _agent, leaseExpiresAt: _expiry, ...visible } = job;
  return { ...visible, waiting };
}

/** What a tenant holds right now, for its limits. */
export interface TenantUsage {
  queued: number;
  /** Bytes stored for it: contexts of unfinished builds, and uploads (as declared until checked, then as checked). */
  contextBytes: number;
}

export type { Pause };

/**
 * A context on its way to a build: `request` while the request that submits a build writes it (a crash leaves the
 * row, and the sweep the bytes); `parts` for a chunked upload, until a build takes its checked context.
 */
export type UploadKind = "request" | "parts";

export interface UploadRecord {
  id: string;
  tenant: string;
  kind: UploadKind;
  state: UploadState;
  /** Declared bytes: the request's length, or the upload's size. */
  size: number;
  partSize: number;
  contextKey: string;
  /** The R2 multipart upload writing `contextKey`, while one is open. */
  multipartId: string | null;
  /** Bytes of the checked context, once ready. */
  contextBytes: number | null;
  /** Fences the request that checks it: only the latest may finish. */
  checkAttempt: number;
  /** While checking: when the checking request stops counting as alive unless it renews. */
  lockExpiresAt: number | null;
  createdAt: number;
  updatedAt: number;
  /** When the sweep deletes it, unless renewed. */
  expiresAt: number;
}

export interface UploadPartRecord {
  number: number;
  size: number;
  /** Base64, as the part's Content-Digest said it. */
  sha256: string;
  /** The R2 object of the attempt that was recorded (context/keys.ts): never shown to clients. */
  key: string;
}

export function toUpload(row: Row): UploadRecord {
  return {
    id: row.id as string,
    tenant: row.tenant as string,
    kind: row.kind as UploadKind,
    state: row.state as UploadState,
    size: row.size as number,
    partSize: row.part_size as number,
    contextKey: row.context_key as string,
    multipartId: (row.multipart_id as string | null) ?? null,
    contextBytes: (row.context_bytes as number | null) ?? null,
    checkAttempt: row.check_attempt as number,
    lockExpiresAt: (row.lock_expires_at as number | null) ?? null,
    createdAt: row.created_at as number,
    updatedAt: row.updated_at as number,
    expiresAt: row.expires_at as number,
  };
}

export interface AgentRecord {
  id: string;
  name: string;
  /** As its hello reported them; platform and builder are null for agents too old to say. */
  version: string;
  platform: string | null;
  builder: string | null;
  /** What its hello said it understands (shared/protocol.ts AGENT_CAPABILITIES); none from agents too old to say. */
  capabilities: string[];
  /** Its hello or its last heartbeat. */
  lastSeenAt: number;
  concurrency: number;
  labels: Labels;
  draining: boolean;
  refusing: boolean;
  /** Set while the agent says it is paused; null otherwise. */
  paused: Pause | null;
  /** Jobs it holds under a lease now. */
  running: number;
  connectedAt: number;
}

export type Row = Record<string, SqlStorageValue>;

export function toJob(row: Row): JobRecord {
  return {
    id: row.id as string,
    tenant: row.tenant as string,
    state: row.state as JobState,
    attempt: row.attempt as number,
    registry: row.registry as string,
    path: row.path as string,
    tag: row.tag as string,
    userName: row.user_name as string,
    labels: JSON.parse(row.labels as string) as Labels,
    sealedPassword: (row.sealed_password as ArrayBuffer | null) ?? null,
    sealedCredentials: (row.sealed_credentials as ArrayBuffer | null) ?? null,
    // Jobs stored before options were taken were built as a plain `docker build`.
    options: row.options ? (JSON.parse(row.options as string) as BuildOptions) : { dockerfile: "Dockerfile", buildArgs: {}, noCache: false },
    alsoPush: row.also_push ? (JSON.parse(row.also_push as string) as ImageName[]) : [],
    files: JSON.parse(row.files as string) as FilesSummary,
    // Jobs from before contexts could live elsewhere have none recorded.
    contextKey: (row.context_key as string | null) ?? contextKey(row.id as string),
    contextBytes: row.context_bytes as number,
    notifyUrl: (row.notify_url as string | null) ?? null,
    agentId: (row.agent_id as string | null) ?? null,
    leaseHash: (row.lease_hash as string | null) ?? null,
    leaseExpiresAt: (row.lease_expires_at as number | null) ?? null,
    cancelRequested: row.cancel_requested === 1,
    step: (row.step as JobEnd["step"]) ?? null,
    error: (row.error as string | null) ?? null,
    digest: (row.digest as string | null) ?? null,
    imageId: (row.image_id as string | null) ?? null,
    steps: row.steps ? (JSON.parse(row.steps as string) as BuildStep[]) : null,
    pushed: row.pushed ? (JSON.parse(row.pushed as string) as PushedImage[]) : null,
    createdAt: row.created_at as number,
    startedAt: (row.started_at as number | null) ?? null,
    updatedAt: row.updated_at as number,
    finishedAt: (row.finished_at as number | null) ?? null,
  };
}

export function toAgent(row: Row): AgentRecord {
  return {
    id: row.id as string,
    name: row.name as string,
    version: row.version as string,
    platform: (row.platform as string | null) ?? null,
    builder: (row.builder as string | null) ?? null,
    capabilities: JSON.parse(row.capabilities as string) as string[],
    lastSeenAt: (row.last_seen_at as number | null) ?? (row.connected_at as number),
    concurrency: row.concurrency as number,
    labels: JSON.parse(row.labels as string) as Labels,
    draining: row.draining === 1,
    refusing: row.refusing === 1,
    paused: row.paused === null ? null : (JSON.parse(row.paused as string) as Pause),
    running: row.running as number,
    connectedAt: row.connected_at as number,
  };
}
