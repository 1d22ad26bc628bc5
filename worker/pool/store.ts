/** The pool's SQLite: schema and every query, so the Durable Object class holds no SQL. */
import type { JobState } from "../../shared/job";
import type { Labels } from "../../shared/protocol";
import type { JobEnd, JobLease } from "./jobs";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  state TEXT NOT NULL,
  attempt INTEGER NOT NULL DEFAULT 0,
  registry TEXT NOT NULL,
  path TEXT NOT NULL,
  tag TEXT NOT NULL,
  user_name TEXT NOT NULL,
  sealed_password BLOB,
  files TEXT NOT NULL,
  agent_id TEXT,
  lease_hash TEXT,
  lease_expires_at INTEGER,
  step TEXT,
  error TEXT,
  digest TEXT,
  image_id TEXT,
  log_lines INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  finished_at INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, created_at);
CREATE INDEX IF NOT EXISTS jobs_by_lease ON jobs (lease_expires_at) WHERE lease_expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS agents (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  concurrency INTEGER NOT NULL,
  labels TEXT NOT NULL,
  connected_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS log_lines (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id TEXT NOT NULL,
  line TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS log_lines_by_job ON log_lines (job_id, seq);
`;

export interface NewJob {
  id: string;
  tenant: string;
  registry: string;
  path: string;
  tag: string;
  userName: string;
  sealedPassword: ArrayBuffer | null;
  /** What the submitter sent, for the response: names and sizes, never contents. */
  files: FilesSummary;
}

export interface FilesSummary {
  dockerfile: { filename: string; size: number };
  optional_files: Record<string, { size: number }>;
}

export interface JobRecord extends JobLease, JobEnd {
  id: string;
  tenant: string;
  registry: string;
  path: string;
  tag: string;
  userName: string;
  sealedPassword: ArrayBuffer | null;
  files: FilesSummary;
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
    sealedPassword: (row.sealed_password as ArrayBuffer | null) ?? null,
    files: JSON.parse(row.files as string) as FilesSummary,
    agentId: (row.agent_id as string | null) ?? null,
    leaseHash: (row.lease_hash as string | null) ?? null,
    leaseExpiresAt: (row.lease_expires_at as number | null) ?? null,
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

/** Longest log kept for one job; past it lines are counted, not stored. */
export const MAX_LOG_LINES = 20_000;

export class PoolStore {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(SCHEMA);
  }

  insertJob(job: NewJob, now: number): void {
    this.sql.exec(
      `INSERT INTO jobs (id, tenant, state, registry, path, tag, user_name, sealed_password, files, created_at, updated_at)
       VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?)`,
      job.id, job.tenant, job.registry, job.path, job.tag, job.userName, job.sealedPassword, JSON.stringify(job.files), now, now,
    );
  }

  job(id: string): JobRecord | null {
    const row = this.sql.exec<Row>("SELECT * FROM jobs WHERE id = ?", id).toArray()[0];
    return row ? toJob(row) : null;
  }

  queuedJobs(): JobRecord[] {
    return this.sql.exec<Row>("SELECT * FROM jobs WHERE state = 'queued' ORDER BY created_at, id").toArray().map(toJob);
  }

  expiredLeases(now: number): JobRecord[] {
    return this.sql.exec<Row>("SELECT * FROM jobs WHERE lease_expires_at <= ?", now).toArray().map(toJob);
  }

  jobsOfAgent(agentId: string): JobRecord[] {
    return this.sql.exec<Row>("SELECT * FROM jobs WHERE agent_id = ? AND lease_expires_at IS NOT NULL", agentId).toArray().map(toJob);
  }

  earliestLeaseExpiry(): number | null {
    const row = this.sql.exec<{ due: number | null }>("SELECT MIN(lease_expires_at) AS due FROM jobs").one();
    return row.due;
  }

  /** Writes a transition's result; the lease hash lives exactly as long as the lease. */
  saveLease(id: string, lease: JobLease, leaseHash: string | null, now: number): void {
    this.sql.exec(
      "UPDATE jobs SET state = ?, attempt = ?, agent_id = ?, lease_expires_at = ?, lease_hash = ?, updated_at = ? WHERE id = ?",
      lease.state, lease.attempt, lease.agentId, lease.leaseExpiresAt, lease.leaseExpiresAt === null ? null : leaseHash, now, id,
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
    const { log_lines: stored } = this.sql.exec<{ log_lines: number }>("SELECT log_lines FROM jobs WHERE id = ?", jobId).one();
    const room = Math.max(0, MAX_LOG_LINES - stored);
    for (const line of lines.slice(0, room)) this.sql.exec("INSERT INTO log_lines (job_id, line) VALUES (?, ?)", jobId, line);
    this.sql.exec("UPDATE jobs SET log_lines = log_lines + ? WHERE id = ?", lines.length, jobId);
  }

  logText(jobId: string): string {
    const lines = this.sql.exec<{ line: string }>("SELECT line FROM log_lines WHERE job_id = ? ORDER BY seq", jobId).toArray();
    return lines.map(({ line }) => `${line}\n`).join("");
  }

  deleteLog(jobId: string): void {
    this.sql.exec("DELETE FROM log_lines WHERE job_id = ?", jobId);
  }

  upsertAgent(agent: Omit<AgentRecord, "running">, now: number): void {
    this.sql.exec(
      "INSERT OR REPLACE INTO agents (id, name, concurrency, labels, connected_at) VALUES (?, ?, ?, ?, ?)",
      agent.id, agent.name, agent.concurrency, JSON.stringify(agent.labels), now,
    );
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

  agent(id: string): AgentRecord | null {
    return this.agents().find((agent) => agent.id === id) ?? null;
  }

  /** Connected agents with how many leased jobs each runs, least busy first. */
  agents(): AgentRecord[] {
    const rows = this.sql.exec<Row>(
      `SELECT a.id, a.name, a.concurrency, a.labels,
         (SELECT COUNT(*) FROM jobs j WHERE j.agent_id = a.id AND j.lease_expires_at IS NOT NULL) AS running
       FROM agents a ORDER BY running, connected_at`,
    ).toArray();
    return rows.map((row) => ({
      id: row.id as string,
      name: row.name as string,
      concurrency: row.concurrency as number,
      labels: JSON.parse(row.labels as string) as Labels,
      running: row.running as number,
    }));
  }
}
