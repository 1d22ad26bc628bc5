/** The pool's SQLite: schema and every query, so the Durable Object class holds no SQL. */
import type { JobState } from "../../shared/job";
import type { Labels } from "../../shared/labels";
import type { JobEnd, JobLease } from "./jobs";

/** Applied in order, each once; a deployed database only ever moves forward. */
const MIGRATIONS = [
  `CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    state TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    registry TEXT NOT NULL,
    path TEXT NOT NULL,
    tag TEXT NOT NULL,
    user_name TEXT NOT NULL,
    labels TEXT NOT NULL,
    sealed_password BLOB,
    files TEXT NOT NULL,
    idempotency_key TEXT,
    agent_id TEXT,
    lease_hash TEXT,
    lease_expires_at INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    step TEXT,
    error TEXT,
    digest TEXT,
    image_id TEXT,
    log_lines INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    finished_at INTEGER
  );
  CREATE INDEX jobs_by_state ON jobs (state, created_at);
  CREATE INDEX jobs_by_lease ON jobs (lease_expires_at) WHERE lease_expires_at IS NOT NULL;
  CREATE UNIQUE INDEX jobs_by_idempotency_key ON jobs (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL;
  CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    concurrency INTEGER NOT NULL,
    labels TEXT NOT NULL,
    draining INTEGER NOT NULL DEFAULT 0,
    connected_at INTEGER NOT NULL
  );
  CREATE TABLE log_lines (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    line TEXT NOT NULL
  );
  CREATE INDEX log_lines_by_job ON log_lines (job_id, seq);`,
  // Per-tenant limits count the bytes of stored contexts, and listing walks a tenant's jobs newest first.
  `ALTER TABLE jobs ADD COLUMN context_bytes INTEGER NOT NULL DEFAULT 0;
  CREATE INDEX jobs_by_tenant ON jobs (tenant, created_at DESC, id DESC);`,
  // A log is capped in bytes as well as lines; an agent that refused an assignment gets none until its next heartbeat.
  `ALTER TABLE jobs ADD COLUMN log_kept_lines INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE jobs ADD COLUMN log_kept_bytes INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE agents ADD COLUMN refusing INTEGER NOT NULL DEFAULT 0;`,
];

function migrate(sql: SqlStorage): void {
  sql.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)");
  const { applied } = sql.exec<{ applied: number }>("SELECT COUNT(*) AS applied FROM schema_migrations").one();
  MIGRATIONS.slice(applied).forEach((migration, index) => {
    sql.exec(migration);
    sql.exec("INSERT INTO schema_migrations (version) VALUES (?)", applied + index + 1);
  });
}

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
  /** What the submitter sent, for the response: names and sizes, never contents. */
  files: FilesSummary;
  contextBytes: number;
  idempotencyKey: string | null;
}

/** What a tenant holds right now, for its limits. */
export interface TenantUsage {
  queued: number;
  /** Bytes of the contexts stored for its unfinished builds. */
  contextBytes: number;
}

/** What the submitter sent, for responses: names and sizes, never contents. */
export type FilesSummary =
  | { dockerfile: { filename: string; size: number }; optional_files: Record<string, { size: number }> }
  | { tarball: { size: number } };

export interface JobRecord extends Omit<NewJob, "idempotencyKey">, JobLease, JobEnd {
  leaseHash: string | null;
  logLines: number;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
}

export interface AgentRecord {
  id: string;
  name: string;
  concurrency: number;
  labels: Labels;
  draining: boolean;
  refusing: boolean;
  running: number;
}

type Row = Record<string, SqlStorageValue>;

function toJob(row: Row): JobRecord {
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
    files: JSON.parse(row.files as string) as FilesSummary,
    contextBytes: row.context_bytes as number,
    agentId: (row.agent_id as string | null) ?? null,
    leaseHash: (row.lease_hash as string | null) ?? null,
    leaseExpiresAt: (row.lease_expires_at as number | null) ?? null,
    cancelRequested: row.cancel_requested === 1,
    step: (row.step as JobEnd["step"]) ?? null,
    error: (row.error as string | null) ?? null,
    digest: (row.digest as string | null) ?? null,
    imageId: (row.image_id as string | null) ?? null,
    logLines: row.log_lines as number,
    createdAt: row.created_at as number,
    updatedAt: row.updated_at as number,
    finishedAt: (row.finished_at as number | null) ?? null,
  };
}

/** The most log kept for one job (GitLab keeps 4 MiB); past it lines are counted, not stored, and the log says so. */
export const MAX_LOG_LINES = 20_000;
export const MAX_LOG_BYTES = 4 * 1024 * 1024;

export class PoolStore {
  constructor(private readonly sql: SqlStorage) {
    migrate(sql);
  }

  insertJob(job: NewJob, now: number): void {
    this.sql.exec(
      `INSERT INTO jobs (id, tenant, state, registry, path, tag, user_name, labels, sealed_password, files, context_bytes,
         idempotency_key, created_at, updated_at)
       VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      job.id, job.tenant, job.registry, job.path, job.tag, job.userName, JSON.stringify(job.labels), job.sealedPassword,
      JSON.stringify(job.files), job.contextBytes, job.idempotencyKey, now, now,
    );
  }

  jobByIdempotencyKey(tenant: string, key: string): JobRecord | null {
    const row = this.sql.exec<Row>("SELECT * FROM jobs WHERE tenant = ? AND idempotency_key = ?", tenant, key).toArray()[0];
    return row ? toJob(row) : null;
  }

  job(id: string): JobRecord | null {
    const row = this.sql.exec<Row>("SELECT * FROM jobs WHERE id = ?", id).toArray()[0];
    return row ? toJob(row) : null;
  }

  tenantUsage(tenant: string): TenantUsage {
    return this.sql.exec<{ queued: number; contextBytes: number }>(
      `SELECT COALESCE(SUM(state = 'queued'), 0) AS queued, COALESCE(SUM(context_bytes), 0) AS contextBytes
       FROM jobs WHERE tenant = ? AND finished_at IS NULL`,
      tenant,
    ).one();
  }

  /** A tenant's jobs, newest first, after the cursor `(createdAt, id)` of the last one seen. */
  tenantJobs(tenant: string, limit: number, after?: { createdAt: number; id: string }): JobRecord[] {
    const rows = after
      ? this.sql.exec<Row>(
          `SELECT * FROM jobs WHERE tenant = ? AND (created_at < ? OR (created_at = ? AND id < ?))
           ORDER BY created_at DESC, id DESC LIMIT ?`,
          tenant, after.createdAt, after.createdAt, after.id, limit,
        )
      : this.sql.exec<Row>("SELECT * FROM jobs WHERE tenant = ? ORDER BY created_at DESC, id DESC LIMIT ?", tenant, limit);
    return rows.toArray().map(toJob);
  }

  queuedJobs(): JobRecord[] {
    return this.sql.exec<Row>("SELECT * FROM jobs WHERE state = 'queued' ORDER BY created_at, id").toArray().map(toJob);
  }

  expiredLeases(now: number): JobRecord[] {
    return this.sql.exec<Row>("SELECT * FROM jobs WHERE lease_expires_at <= ?", now).toArray().map(toJob);
  }

  earliestLeaseExpiry(): number | null {
    const row = this.sql.exec<{ due: number | null }>("SELECT MIN(lease_expires_at) AS due FROM jobs").one();
    return row.due;
  }

  /** Writes a transition's result; the lease hash lives exactly as long as the lease. */
  saveLease(id: string, lease: JobLease, leaseHash: string | null, now: number): void {
    this.sql.exec(
      `UPDATE jobs SET state = ?, attempt = ?, agent_id = ?, lease_expires_at = ?, lease_hash = ?, cancel_requested = ?, updated_at = ?
       WHERE id = ?`,
      lease.state, lease.attempt, lease.agentId, lease.leaseExpiresAt, lease.leaseExpiresAt === null ? null : leaseHash,
      lease.cancelRequested ? 1 : 0, now, id,
    );
  }

  /** Records how a job ended and wipes its secret: the sealed password is gone once the job is over. */
  saveEnd(id: string, lease: JobLease, fields: JobEnd, now: number): void {
    this.saveLease(id, lease, null, now);
    this.sql.exec(
      `UPDATE jobs SET step = ?, error = ?, digest = ?, image_id = ?, finished_at = ?, sealed_password = NULL WHERE id = ?`,
      fields.step, fields.error, fields.digest, fields.imageId, now, id,
    );
  }

  appendLog(jobId: string, lines: readonly string[]): void {
    const kept = this.sql.exec<{ lines: number; bytes: number }>(
      "SELECT log_kept_lines AS lines, log_kept_bytes AS bytes FROM jobs WHERE id = ?",
      jobId,
    ).one();
    for (const line of lines) {
      const bytes = new TextEncoder().encode(line).byteLength + 1;
      if (kept.lines >= MAX_LOG_LINES || kept.bytes + bytes > MAX_LOG_BYTES) break;
      this.sql.exec("INSERT INTO log_lines (job_id, line) VALUES (?, ?)", jobId, line);
      kept.lines += 1;
      kept.bytes += bytes;
    }
    this.sql.exec(
      "UPDATE jobs SET log_lines = log_lines + ?, log_kept_lines = ?, log_kept_bytes = ? WHERE id = ?",
      lines.length, kept.lines, kept.bytes, jobId,
    );
  }

  /** The log as text, ending with a note of how many lines were not kept, if any. */
  logText(jobId: string): string {
    const lines = this.sql.exec<{ line: string }>("SELECT line FROM log_lines WHERE job_id = ? ORDER BY seq", jobId).toArray();
    const { received, kept } = this.sql.exec<{ received: number; kept: number }>(
      "SELECT log_lines AS received, log_kept_lines AS kept FROM jobs WHERE id = ?",
      jobId,
    ).one();
    const text = lines.map(({ line }) => `${line}\n`).join("");
    const dropped = received - kept;
    if (dropped <= 0) return text;
    return `${text}[dockify] ${dropped} more log line(s) not kept: a build log keeps at most ${MAX_LOG_LINES} lines and ${MAX_LOG_BYTES / 1024 / 1024} MiB\n`;
  }

  deleteLog(jobId: string): void {
    this.sql.exec("DELETE FROM log_lines WHERE job_id = ?", jobId);
  }

  upsertAgent(agent: Omit<AgentRecord, "running" | "draining" | "refusing">, now: number): void {
    this.sql.exec(
      "INSERT OR REPLACE INTO agents (id, name, concurrency, labels, connected_at) VALUES (?, ?, ?, ?, ?)",
      agent.id, agent.name, agent.concurrency, JSON.stringify(agent.labels), now,
    );
  }

  markDraining(id: string): void {
    this.sql.exec("UPDATE agents SET draining = 1 WHERE id = ?", id);
  }

  /** A refusing agent's slots are not what the pool counted: it gets nothing until its next heartbeat says what it runs. */
  setRefusing(id: string, refusing: boolean): void {
    this.sql.exec("UPDATE agents SET refusing = ? WHERE id = ?", refusing ? 1 : 0, id);
  }

  isConnected(id: string): boolean {
    return this.sql.exec("SELECT 1 FROM agents WHERE id = ?", id).toArray().length > 0;
  }

  deleteAgent(id: string): void {
    this.sql.exec("DELETE FROM agents WHERE id = ?", id);
  }

  /** Removes agents whose sockets did not survive a restart of the object. */
  keepOnlyAgents(connected: ReadonlySet<string>): void {
    for (const { id } of this.sql.exec<{ id: string }>("SELECT id FROM agents").toArray()) {
      if (!connected.has(id)) this.deleteAgent(id);
    }
  }

  /** Connected agents with how many leased jobs each runs, least busy first. */
  agents(): AgentRecord[] {
    const rows = this.sql.exec<Row>(
      `SELECT a.id, a.name, a.concurrency, a.labels, a.draining, a.refusing,
         (SELECT COUNT(*) FROM jobs j WHERE j.agent_id = a.id AND j.lease_expires_at IS NOT NULL) AS running
       FROM agents a ORDER BY running, connected_at`,
    ).toArray();
    return rows.map((row) => ({
      id: row.id as string,
      name: row.name as string,
      concurrency: row.concurrency as number,
      labels: JSON.parse(row.labels as string) as Labels,
      draining: row.draining === 1,
      refusing: row.refusing === 1,
      running: row.running as number,
    }));
  }
}
