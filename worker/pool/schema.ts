/** The pool's SQLite schema: numbered migrations, applied in order, each once. */

/** A deployed database only ever moves forward: add a migration, never edit one that has shipped. */
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
  // Dockify's own log entries are kept as data beside their text, so readers can tell them from a build's output.
  `ALTER TABLE log_lines ADD COLUMN event TEXT;`,
  // An agent's version, shown with it; a paused agent (short of disk, say) takes nothing new, and waiting builds say why.
  `ALTER TABLE agents ADD COLUMN version TEXT NOT NULL DEFAULT '';
  ALTER TABLE agents ADD COLUMN paused TEXT;`,
  // Where the pool POSTs a build's record when it ends (deliveries.ts), and each delivery with its attempts; when a
  // job first started (its wait and its duration) and the steps its agent reported; what an agent said of itself and when it last did, for
  // GET /v1/agents; counters and histograms for /metrics, which outlive restarts.
  `ALTER TABLE jobs ADD COLUMN notify_url TEXT;
  ALTER TABLE jobs ADD COLUMN started_at INTEGER;
  ALTER TABLE jobs ADD COLUMN steps TEXT;
  ALTER TABLE agents ADD COLUMN platform TEXT;
  ALTER TABLE agents ADD COLUMN builder TEXT;
  ALTER TABLE agents ADD COLUMN last_seen_at INTEGER;
  CREATE TABLE metric_counters (
    name TEXT NOT NULL,
    labels TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (name, labels)
  );
  CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    url TEXT NOT NULL,
    event TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    created_at INTEGER NOT NULL,
    finished_at INTEGER
  );
  CREATE UNIQUE INDEX webhook_deliveries_by_job ON webhook_deliveries (job_id, event);
  CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
  CREATE TABLE webhook_attempts (
    delivery_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    status_code INTEGER,
    error TEXT,
    PRIMARY KEY (delivery_id, attempt)
  );`,
  // Contexts that are being written, or uploaded in parts, before a build owns them: each row is the intent to clean
  // up what R2 holds for it if no build comes (the alarm sweeps expired rows). A job records where its context is.
  `CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    size INTEGER NOT NULL,
    part_size INTEGER NOT NULL,
    context_key TEXT NOT NULL,
    multipart_id TEXT,
    context_bytes INTEGER,
    check_attempt INTEGER NOT NULL DEFAULT 0,
    lock_expires_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  );
  CREATE INDEX uploads_by_tenant ON uploads (tenant, created_at);
  CREATE INDEX uploads_by_expiry ON uploads (expires_at);
  CREATE TABLE upload_parts (
    upload_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (upload_id, number)
  );
  ALTER TABLE jobs ADD COLUMN context_key TEXT;`,
  // How to build (build args, target, platform, …) and more references to push; the logins and build secrets of
  // the request, sealed and wiped at the end like the password; what was pushed; and which agent last built each of a
  // tenant's repositories, so the next build of it goes where its cache is (dispatch.ts).
  `ALTER TABLE jobs ADD COLUMN options TEXT;
  ALTER TABLE jobs ADD COLUMN also_push TEXT;
  ALTER TABLE jobs ADD COLUMN sealed_credentials BLOB;
  ALTER TABLE jobs ADD COLUMN pushed TEXT;
  CREATE TABLE affinity (
    tenant TEXT NOT NULL,
    repository TEXT NOT NULL,
    agent_name TEXT NOT NULL,
    built_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, repository)
  );
  CREATE INDEX affinity_by_age ON affinity (built_at);`,
  // Each part attempt has an object of its own (context/keys.ts); parts stored before had the number alone.
  `ALTER TABLE upload_parts ADD COLUMN key TEXT NOT NULL DEFAULT '';
  UPDATE upload_parts SET key = 'uploads/' || upload_id || '/parts/' || number;`,
  // What each agent says it understands (shared/protocol.ts AGENT_CAPABILITIES): a job using build options waits
  // for one that understands them.
  `ALTER TABLE agents ADD COLUMN capabilities TEXT NOT NULL DEFAULT '[]';`,
];

export function migrate(sql: SqlStorage): void {
  sql.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)");
  const { applied } = sql.exec<{ applied: number }>("SELECT COUNT(*) AS applied FROM schema_migrations").one();
  MIGRATIONS.slice(applied).forEach((migration, index) => {
    sql.exec(migration);
    sql.exec("INSERT INTO schema_migrations (version) VALUES (?)", applied + index + 1);
  });
}
