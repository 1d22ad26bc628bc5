/** The pool's queries on jobs and agents: the Durable Object class holds no SQL. Logs keep theirs in log.ts. */
import { migrate } from "./schema";
import type { JobEnd, JobLease } from "./jobs";
import { toAgent, toJob, type AgentRecord, type JobRecord, type NewJob, type Pause, type Row, type TenantUsage } from "./records";

/** The most (tenant, repository) → agent entries a pool remembers; one is a few dozen bytes. */
export const MAX_AFFINITIES = 10_000;

export class PoolStore {
  constructor(private readonly sql: SqlStorage) {
    migrate(sql);
  }

  insertJob(job: NewJob, now: number): void {
    this.sql.exec(
      `INSERT INTO jobs (id, tenant, state, registry, path, tag, user_name, labels, sealed_password, sealed_credentials, options,
         also_push, files, context_key, context_bytes, idempotency_key, notify_url, created_at, updated_at)
       VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      job.id, job.tenant, job.registry, job.path, job.tag, job.userName, JSON.stringify(job.labels), job.sealedPassword,
      job.sealedCredentials, JSON.stringify(job.options), JSON.stringify(job.alsoPush), JSON.stringify(job.files), job.contextKey,
      job.contextBytes, job.idempotencyKey, job.notifyUrl, now, now,
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

  /** What the tenant holds now; `exceptUpload` leaves out the upload a new job is about to take over. */
  tenantUsage(tenant: string, exceptUpload: string | null = null): TenantUsage {
    const jobs = this.sql.exec<{ queued: number; contextBytes: number }>(
      `SELECT COALESCE(SUM(state = 'queued'), 0) AS queued, COALESCE(SUM(context_bytes), 0) AS contextBytes
       FROM jobs WHERE tenant = ? AND finished_at IS NULL`,
      tenant,
    ).one();
    const uploads = this.sql.exec<{ bytes: number }>(
      `SELECT COALESCE(SUM(CASE WHEN state = 'ready' THEN context_bytes ELSE size END), 0) AS bytes
       FROM uploads WHERE tenant = ? AND id IS NOT ?`,
      tenant, exceptUpload,
    ).one();
    return { queued: jobs.queued, contextBytes: jobs.contextBytes + uploads.bytes };
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

  /**
   * Every queued job, each with the agent that last built its repository for its tenant (null: none yet); in which
   * order they are served is the dispatch policy's to say.
   */
  queuedJobs(): (JobRecord & { lastAgent: string | null })[] {
    return this.sql
      .exec<Row>(
        `SELECT j.*, a.agent_name AS last_agent FROM jobs j
         LEFT JOIN affinity a ON a.tenant = j.tenant AND a.repository = j.registry || '/' || j.path
         WHERE j.state = 'queued'`,
      )
      .toArray()
      .map((row) => ({ ...toJob(row), lastAgent: (row.last_agent as string | null) ?? null }));
  }

  /**
   * Remembers that `agentName` built the job's repository for its tenant last. The oldest entries beyond
   * MAX_AFFINITIES go: a repository not built for that long has no warm cache worth going back for.
   */
  rememberBuilder(job: Pick<JobRecord, "tenant" | "registry" | "path">, agentName: string, now: number): void {
    // The repository as queuedJobs() joins on it.
    const repository = `${job.registry}/${job.path}`;
    this.sql.exec("INSERT OR REPLACE INTO affinity (tenant, repository, agent_name, built_at) VALUES (?, ?, ?, ?)", job.tenant, repository, agentName, now);
    this.sql.exec(
      "DELETE FROM affinity WHERE rowid IN (SELECT rowid FROM affinity ORDER BY built_at DESC LIMIT -1 OFFSET ?)",
      MAX_AFFINITIES,
    );
  }

  /** Ids of the jobs whose lease ran out by `now`. */
  expiredLeases(now: number): string[] {
    return this.sql.exec<{ id: string }>("SELECT id FROM jobs WHERE lease_expires_at <= ?", now).toArray().map(({ id }) => id);
  }

  earliestLeaseExpiry(): number | null {
    return this.sql.exec<{ due: number | null }>("SELECT MIN(lease_expires_at) AS due FROM jobs").one().due;
  }

  /** Records the first assignment's time; false when the job had started before (a later attempt). */
  markStarted(id: string, now: number): boolean {
    return this.sql.exec("UPDATE jobs SET started_at = ? WHERE id = ? AND started_at IS NULL", now, id).rowsWritten > 0;
  }

  /** Queued jobs by age: how many, and when the oldest was submitted. */
  queueLength(): { queued: number; oldestCreatedAt: number | null } {
    return this.sql
      .exec<{ queued: number; oldestCreatedAt: number | null }>("SELECT COUNT(*) AS queued, MIN(created_at) AS oldestCreatedAt FROM jobs WHERE state = 'queued'")
      .one();
  }

  /** How many jobs are in each state now. */
  stateCounts(): { state: string; count: number }[] {
    return this.sql.exec<{ state: string; count: number }>("SELECT state, COUNT(*) AS count FROM jobs GROUP BY state").toArray();
  }

  /** Writes a transition's lease fields. */
  saveLease(id: string, lease: JobLease, now: number): void {
    this.sql.exec(
      `UPDATE jobs SET state = ?, attempt = ?, agent_id = ?, lease_expires_at = ?, lease_hash = ?, cancel_requested = ?, updated_at = ?
       WHERE id = ?`,
      lease.state, lease.attempt, lease.agentId, lease.leaseExpiresAt, lease.leaseHash, lease.cancelRequested ? 1 : 0, now, id,
    );
  }

  /** Records how a job ended and wipes its secrets: the sealed password, logins and build secrets are gone once the job is over. */
  saveEnd(id: string, lease: JobLease, fields: JobEnd, now: number): void {
    this.saveLease(id, lease, now);
    this.sql.exec(
      `UPDATE jobs SET step = ?, error = ?, digest = ?, image_id = ?, steps = ?, pushed = ?, finished_at = ?,
         sealed_password = NULL, sealed_credentials = NULL WHERE id = ?`,
      fields.step, fields.error, fields.digest, fields.imageId, fields.steps && JSON.stringify(fields.steps),
      fields.pushed && JSON.stringify(fields.pushed), now, id,
    );
  }

  upsertAgent(agent: Pick<AgentRecord, "id" | "name" | "version" | "platform" | "builder" | "capabilities" | "concurrency" | "labels">, now: number): void {
    this.sql.exec(
      `INSERT OR REPLACE INTO agents (id, name, version, platform, builder, capabilities, concurrency, labels, connected_at, last_seen_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      agent.id, agent.name, agent.version, agent.platform, agent.builder, JSON.stringify(agent.capabilities), agent.concurrency,
      JSON.stringify(agent.labels), now, now,
    );
  }

  /** A heartbeat: the agent is alive now. */
  markSeen(id: string, now: number): void {
    this.sql.exec("UPDATE agents SET last_seen_at = ? WHERE id = ?", now, id);
  }

  /** The ids of the tenant's jobs each agent holds under a lease now. */
  tenantJobsByAgent(tenant: string): Map<string, string[]> {
    const rows = this.sql
      .exec<{ agent_id: string; id: string }>(
        "SELECT agent_id, id FROM jobs WHERE tenant = ? AND agent_id IS NOT NULL AND lease_expires_at IS NOT NULL ORDER BY created_at",
        tenant,
      )
      .toArray();
    const byAgent = new Map<string, string[]>();
    for (const { agent_id, id } of rows) byAgent.set(agent_id, [...(byAgent.get(agent_id) ?? []), id]);
    return byAgent;
  }

  /** The tenant's queued jobs, oldest first. */
  tenantQueuedJobs(tenant: string): JobRecord[] {
    return this.sql.exec<Row>("SELECT * FROM jobs WHERE tenant = ? AND state = 'queued' ORDER BY created_at, id", tenant).toArray().map(toJob);
  }

  markDraining(id: string): void {
    this.sql.exec("UPDATE agents SET draining = 1 WHERE id = ?", id);
  }

  /** A paused agent is sent nothing new until it resumes (null). */
  setPaused(id: string, pause: Pause | null): void {
    this.sql.exec("UPDATE agents SET paused = ? WHERE id = ?", pause === null ? null : JSON.stringify(pause), id);
  }

  /** A refusing agent's slots are not what the pool counted: it gets nothing until its next heartbeat says what it runs. */
  setRefusing(id: string, refusing: boolean): void {
    this.sql.exec("UPDATE agents SET refusing = ? WHERE id = ?", refusing ? 1 : 0, id);
  }

  /**
   * A connected agent's name when it builds with BuildKit, whose build cache the next build of the same repository
   * finds warm; null for one that builds with the classic builder (agents build with it without a cache) or is gone.
   */
  warmCacheAgentName(id: string): string | null {
    return this.sql.exec<{ name: string }>("SELECT name FROM agents WHERE id = ? AND builder = 'buildkit'", id).toArray()[0]?.name ?? null;
  }

  isConnected(id: string): boolean {
    return this.sql.exec("SELECT 1 FROM agents WHERE id = ?", id).toArray().length > 0;
  }

  /** The slots a connected agent declared in its hello; null before its hello. */
  agentConcurrency(id: string): { concurrency: number } | null {
    return this.sql.exec<{ concurrency: number }>("SELECT concurrency FROM agents WHERE id = ?", id).toArray()[0] ?? null;
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

  /** Connected agents, each with how many leased jobs it runs. */
  agents(): AgentRecord[] {
    return this.sql
      .exec<Row>(
        `SELECT a.id, a.name, a.version, a.platform, a.builder, a.capabilities, a.last_seen_at, a.concurrency, a.labels, a.draining, a.refusing,
           a.paused, a.connected_at,
           (SELECT COUNT(*) FROM jobs j WHERE j.agent_id = a.id AND j.lease_expires_at IS NOT NULL) AS running
         FROM agents a`,
      )
      .toArray()
      .map(toAgent);
  }
}
