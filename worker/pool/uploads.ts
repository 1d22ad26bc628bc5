/**
 * Contexts on their way to a build, as rows in the pool: written before a
 * byte goes to R2, so that whatever a request that dies leaves in R2 is found
 * and removed by the alarm (`sweep`), and a build takes its context over in
 * the same step that creates it (Pool.enqueue), so nothing is ever both
 * swept and built, or neither. Removing a row awaits R2, and awaiting lets
 * other calls into the pool: so a row is first marked `deleting`, in the same
 * synchronous step that decides to remove it, and a marked row (or one past
 * its expiry) is invisible to everything else — no build, part or check can
 * take it while R2 is being cleaned — and forgotten once R2 is done.
 *
 * Two kinds (records.ts): a `request` row lives while one request writes a
 * build's context and is renewed by that request while it is alive; a
 * `parts` row is a chunked upload, open for parts until completed, then
 * checked (by one request at a time, fenced by `check_attempt` and held by a
 * renewed lock), then ready for one build; left alone past its expiry it is
 * deleted with everything R2 holds for it.
 */
import { R2_MAX_DELETE_KEYS, type Settings } from "../settings";
import { uploadContextKey, uploadPrefix } from "../context/keys";
import { DEFAULT_PART_BYTES, MAX_PARTS } from "../../shared/api";
import { overByteLimit, tooManyUploads } from "./limits";
import { toUpload, type Row, type TenantUsage, type UploadPartRecord, type UploadRecord } from "./records";

/** How long a request's row (or a check's lock) outlives its last renewal; the request renews it every LIVE_RENEW_MS. */
export const LIVE_TTL_MS = 120_000;
export const LIVE_RENEW_MS = 30_000;
/**
 * Rows one alarm sweeps at most: each awaits R2 a few times, and an alarm runs for at most 15 minutes; the rest
 * wait for the next alarm, set at once since they are still due.
 */
export const SWEEP_BATCH = 50;
/** After R2 failed a sweep, when to try that row again. */
const SWEEP_RETRY_MS = 60_000;
/**
 * The state of a row being removed from R2 (by DELETE or the sweep). Never seen outside this file: `row` and `list`
 * leave such rows out, so an UploadRecord's state is only ever a public UploadState.
 */
const DELETING = "deleting";

/** Why the pool would not do what was asked, as the Worker answers it. */
export interface Refusal {
  status: 400 | 404 | 409 | 413 | 429;
  error: string;
  field: string;
}

export type Result<T> = { ok: T } | { refused: Refusal };

function refused(status: Refusal["status"], error: string, field: string): { refused: Refusal } {
  return { refused: { status, error, field } };
}

/** Bytes of part `number` of an upload: the part size, but the last part holds the rest. */
export function expectedPartBytes(upload: Pick<UploadRecord, "size" | "partSize">, number: number): number {
  return Math.min(upload.partSize, upload.size - (number - 1) * upload.partSize);
}

export function partCount(upload: Pick<UploadRecord, "size" | "partSize">): number {
  return Math.ceil(upload.size / upload.partSize);
}

export interface CheckStart {
  attempt: number;
  upload: UploadRecord;
  parts: UploadPartRecord[];
  /** A multipart upload a check that died left open; the new check aborts it first. */
  staleMultipartId: string | null;
}

export class Uploads {
  constructor(
    private readonly sql: SqlStorage,
    private readonly bucket: R2Bucket,
    private readonly config: Settings,
    private readonly usage: (tenant: string, exceptUpload?: string | null) => TenantUsage,
  ) {}

  /** The row, unless it is being deleted. */
  row(id: string): UploadRecord | null {
    const row = this.sql.exec<Row>("SELECT * FROM uploads WHERE id = ? AND state != ?", id, DELETING).toArray()[0];
    return row ? toUpload(row) : null;
  }

  /** The row, unless it is being deleted or expired (only the sweep's now, whether or not it has run yet). */
  live(id: string, now: number): UploadRecord | null {
    const upload = this.row(id);
    return upload && upload.expiresAt > now ? upload : null;
  }

  /** The tenant's upload, or null: another tenant's is as unknown as a made-up id. */
  tenantUpload(id: string, tenant: string): UploadRecord | null {
    const upload = this.row(id);
    return upload && upload.kind === "parts" && upload.tenant === tenant ? upload : null;
  }

  /** The tenant's upload if parts, a check or a build may still use it: not expired, not being deleted. */
  private liveTenantUpload(id: string, tenant: string, now: number): UploadRecord | null {
    const upload = this.tenantUpload(id, tenant);
    return upload && upload.expiresAt > now ? upload : null;
  }

  parts(id: string): UploadPartRecord[] {
    return this.sql
      .exec<Row>("SELECT number, size, sha256, key FROM upload_parts WHERE upload_id = ? ORDER BY number", id)
      .toArray()
      .map((row) => ({ number: row.number as number, size: row.size as number, sha256: row.sha256 as string, key: row.key as string }));
  }

  list(tenant: string): UploadRecord[] {
    return this.sql
      .exec<Row>("SELECT * FROM uploads WHERE tenant = ? AND kind = 'parts' AND state != ? ORDER BY created_at DESC, id DESC", tenant, DELETING)
      .toArray()
      .map(toUpload);
  }

  /** Records that one request is about to write a build's context to `contextKey`, `bytes` of it at most. */
  beginRequest(id: string, tenant: string, contextKey: string, bytes: number, now: number): void {
    this.sql.exec(
      `INSERT INTO uploads (id, tenant, kind, state, size, part_size, context_key, created_at, updated_at, expires_at)
       VALUES (?, ?, 'request', 'open', ?, 0, ?, ?, ?, ?)`,
      id, tenant, bytes, contextKey, now, now, now + LIVE_TTL_MS,
    );
  }

  create(tenant: string, size: number, partSize: number | undefined, now: number): Result<UploadRecord> {
    const { maxContextBytes, maxPartBytes } = this.config;
    if (size > maxContextBytes) return refused(413, `size must be at most ${maxContextBytes} bytes (DOCKIFY_MAX_CONTEXT_BYTES)`, "size");
    const chosen = partSize ?? Math.min(DEFAULT_PART_BYTES, maxPartBytes);
    if (chosen > maxPartBytes) return refused(400, `part_size must be at most ${maxPartBytes} bytes (DOCKIFY_MAX_PART_BYTES)`, "part_size");
    if (Math.ceil(size / chosen) > MAX_PARTS) return refused(400, `part_size must be at least ${Math.ceil(size / MAX_PARTS)} bytes: an upload has at most ${MAX_PARTS} parts`, "part_size");
    const open = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM uploads WHERE tenant = ? AND kind = 'parts'", tenant).one().n;
    const problem = tooManyUploads(open, this.config) ?? overByteLimit(this.usage(tenant), size, "this upload", this.config);
    if (problem) return refused(429, problem, "tenant");
    const id = crypto.randomUUID();
    this.sql.exec(
      `INSERT INTO uploads (id, tenant, kind, state, size, part_size, context_key, created_at, updated_at, expires_at)
       VALUES (?, ?, 'parts', 'open', ?, ?, ?, ?, ?, ?)`,
      id, tenant, size, chosen, uploadContextKey(id), now, now, now + this.config.uploadExpiryMs,
    );
    return { ok: this.row(id)! };
  }

  /** Whether part `number` may be sent now, and how many bytes it must have. */
  partTarget(id: string, tenant: string, number: number, now: number): Result<{ bytes: number }> {
    const upload = this.liveTenantUpload(id, tenant, now);
    if (!upload) return refused(404, `no upload with id '${id}'`, "id");
    if (upload.state !== "open") return refused(409, `upload '${id}' is ${upload.state}: it takes no more parts`, "id");
    const count = partCount(upload);
    if (number > count) return refused(400, `number must be from 1 to ${count}: the upload has ${count} parts`, "number");
    return { ok: { bytes: expectedPartBytes(upload, number) } };
  }

  /**
   * Records a part R2 has stored (again, for a part sent twice); moves the upload's expiry on. Answers the key of the
   * object it replaced, which the caller deletes.
   */
  recordPart(id: string, tenant: string, part: UploadPartRecord, now: number): Result<{ replaced: string | null }> {
    const target = this.partTarget(id, tenant, part.number, now);
    if ("refused" in target) return target;
    const replaced = this.sql.exec<{ key: string }>("SELECT key FROM upload_parts WHERE upload_id = ? AND number = ?", id, part.number).toArray()[0];
    this.sql.exec(
      "INSERT OR REPLACE INTO upload_parts (upload_id, number, size, sha256, key) VALUES (?, ?, ?, ?, ?)",
      id, part.number, part.size, part.sha256, part.key,
    );
    this.sql.exec("UPDATE uploads SET updated_at = ?, expires_at = ? WHERE id = ?", now, now + this.config.uploadExpiryMs, id);
    return { ok: { replaced: replaced && replaced.key !== part.key ? replaced.key : null } };
  }

  /**
   * Starts the check of a completed upload: every part must be there. A check already running (its lock renewed)
   * is not started twice; one whose request died is taken over, with a new attempt number.
   */
  beginCheck(id: string, tenant: string, now: number): Result<CheckStart | { ready: UploadRecord }> {
    const upload = this.liveTenantUpload(id, tenant, now);
    if (!upload) return refused(404, `no upload with id '${id}'`, "id");
    if (upload.state === "ready") return { ok: { ready: upload } };
    if (upload.state === "checking" && (upload.lockExpiresAt ?? 0) > now) {
      return refused(409, `upload '${id}' is being checked already; GET it to see when it is ready`, "id");
    }
    const parts = this.parts(id);
    const missing: number[] = [];
    for (let number = 1, at = 0; number <= partCount(upload); number++) {
      if (parts[at]?.number === number) at++;
      else missing.push(number);
    }
    if (missing.length > 0) {
      const shown = missing.slice(0, 20).join(", ") + (missing.length > 20 ? ", …" : "");
      return refused(409, `upload '${id}' is missing ${missing.length} part(s): ${shown}`, "parts");
    }
    const attempt = upload.checkAttempt + 1;
    this.sql.exec(
      `UPDATE uploads SET state = 'checking', check_attempt = ?, multipart_id = NULL, lock_expires_at = ?, updated_at = ?, expires_at = ?
       WHERE id = ?`,
      attempt, now + LIVE_TTL_MS, now, now + this.config.uploadExpiryMs, id,
    );
    return { ok: { attempt, upload: this.row(id)!, parts, staleMultipartId: upload.multipartId } };
  }

  /**
   * Keeps a row alive while its request works: a request row's expiry, or a check's lock (only the current
   * attempt's). Refused when the row is gone or the attempt superseded (409), or when the `written` bytes of
   * checked context so far, with what the tenant stores besides, pass its byte limit (429): a gzip context may
   * grow far past what it reserved, and this stops it within a renewal instead of at the end. Refused: stop.
   */
  renew(id: string, attempt: number | null, now: number, written: number): Result<null> {
    // Past its expiry a row is the sweep's, even before the sweep runs: renewing it then would undo a decision made.
    const upload = this.live(id, now);
    if (!upload) return refused(409, "the context's record expired while it was being written (the request stalled): send it again", "context");
    if (upload.kind === "parts" && (upload.state !== "checking" || upload.checkAttempt !== attempt)) {
      return refused(409, `upload '${id}' was deleted or completed again while this request was checking it`, "id");
    }
    const problem = overByteLimit(this.usage(upload.tenant, id), written, "the checked context so far", this.config);
    if (problem) return refused(429, problem, "tenant");
    if (upload.kind === "request") this.sql.exec("UPDATE uploads SET expires_at = ? WHERE id = ?", now + LIVE_TTL_MS, id);
    else this.sql.exec("UPDATE uploads SET lock_expires_at = ?, expires_at = ? WHERE id = ?", now + LIVE_TTL_MS, now + this.config.uploadExpiryMs, id);
    return { ok: null };
  }

  /** Records the multipart upload a request opened, so a sweep can abort it; false when the request should stop. */
  recordMultipart(id: string, attempt: number | null, multipartId: string): boolean {
    const upload = this.row(id);
    if (!upload || (upload.kind === "parts" && (upload.state !== "checking" || upload.checkAttempt !== attempt))) return false;
    this.sql.exec("UPDATE uploads SET multipart_id = ? WHERE id = ?", multipartId, id);
    return true;
  }

  /**
   * Gives back a check that could not finish for a reason other than the context (R2 trouble, a part gone or not
   * the one recorded): the upload is open again at once, rather than locked until the lock lapses. Only the
   * current attempt's: one taken over is not ours to give back.
   */
  giveBackCheck(id: string, attempt: number): void {
    this.sql.exec(
      "UPDATE uploads SET state = 'open', lock_expires_at = NULL WHERE id = ? AND state = 'checking' AND check_attempt = ?",
      id, attempt,
    );
  }

  /**
   * Ends a check that passed: the upload is ready with `contextBytes` of checked context, unless that passes the
   * tenant's byte limit (a gzip upload may grow), or the attempt was superseded (then its output is not the upload's).
   */
  finishCheck(id: string, attempt: number, contextBytes: number, now: number): Result<UploadRecord> {
    const upload = this.row(id);
    if (!upload || upload.state !== "checking" || upload.checkAttempt !== attempt) {
      return refused(409, `upload '${id}' was deleted or completed again while it was being checked`, "id");
    }
    const problem = overByteLimit(this.usage(upload.tenant, id), contextBytes, "this upload's checked context", this.config);
    if (problem) return refused(429, problem, "tenant");
    this.sql.exec(
      `UPDATE uploads SET state = 'ready', context_bytes = ?, multipart_id = NULL, lock_expires_at = NULL, updated_at = ?, expires_at = ?
       WHERE id = ?`,
      contextBytes, now, now + this.config.uploadExpiryMs, id,
    );
    this.sql.exec("DELETE FROM upload_parts WHERE upload_id = ?", id);
    return { ok: this.row(id)! };
  }

  /** Forgets a row whose R2 objects its request removed itself, or that a build took over. */
  forget(id: string): void {
    this.sql.exec("DELETE FROM upload_parts WHERE upload_id = ?", id);
    this.sql.exec("DELETE FROM uploads WHERE id = ?", id);
  }

  /**
   * Deletes a tenant's upload and everything R2 holds for it; false when there is none. Marked before the first
   * await, so nothing takes it meanwhile; if this request dies half-way, the sweep finishes the job.
   */
  async delete(id: string, tenant: string, now: number): Promise<boolean> {
    const upload = this.tenantUpload(id, tenant);
    if (!upload) return false;
    this.markDeleting(id, now + SWEEP_RETRY_MS);
    await this.removeFromR2(upload);
    this.forget(id);
    return true;
  }

  private markDeleting(id: string, retryAt: number): void {
    this.sql.exec("UPDATE uploads SET state = ?, lock_expires_at = NULL, expires_at = ? WHERE id = ?", DELETING, retryAt, id);
  }

  /** When the sweep next has something to do: the earliest expiry, or a check's lock running out. */
  earliestDue(): number | null {
    return this.sql.exec<{ due: number | null }>(
      `SELECT MIN(CASE WHEN state = 'checking' AND lock_expires_at < expires_at THEN lock_expires_at ELSE expires_at END) AS due
       FROM uploads`,
    ).one().due;
  }

  /**
   * Removes what requests that died left: an expired row goes with all R2 holds for it; a chunked upload whose
   * check died (lock lapsed) is open again, its parts kept, the half-written context gone. Idempotent: an alarm
   * may run twice. R2 trouble postpones that row, so one bad row does not stop the others or spin the alarm.
   */
  async sweep(now: number, limit: number): Promise<void> {
    const DUE = "SELECT * FROM uploads WHERE (expires_at <= ? OR (state = 'checking' AND lock_expires_at <= ?))";
    const due = this.sql.exec<{ id: string }>(`${DUE.replace("*", "id")} ORDER BY expires_at LIMIT ?`, now, now, limit).toArray();
    for (const { id } of due) {
      // Read again at its turn: the awaits for the rows before it let other calls change it (a check taking it over).
      const row = this.sql.exec<Row>(`${DUE} AND id = ?`, now, now, id).toArray()[0];
      if (!row) continue;
      const upload = toUpload(row);
      try {
        if (upload.expiresAt > now) {
          // A check whose lock lapsed: the sweep takes the lock (a new attempt) while it cleans up, so no check
          // starts on the context it is deleting, and the dead one is fenced out; then the upload is open again,
          // unless something else (a DELETE) took it in the meantime.
          const attempt = upload.checkAttempt + 1;
          this.sql.exec("UPDATE uploads SET check_attempt = ?, lock_expires_at = ? WHERE id = ?", attempt, now + LIVE_TTL_MS, id);
          await this.abortMultipart(upload);
          await this.bucket.delete(upload.contextKey);
          this.sql.exec(
            "UPDATE uploads SET state = 'open', multipart_id = NULL, lock_expires_at = NULL WHERE id = ? AND state = 'checking' AND check_attempt = ?",
            id, attempt,
          );
          continue;
        }
        this.markDeleting(id, now + SWEEP_RETRY_MS);
        await this.removeFromR2(upload);
        this.forget(id);
      } catch (error) {
        console.error(`upload ${upload.id}: the sweep could not clean R2 up, trying again later: ${String(error)}`);
        this.sql.exec(
          "UPDATE uploads SET expires_at = MAX(expires_at, ?), lock_expires_at = CASE WHEN lock_expires_at IS NULL THEN NULL ELSE ? END WHERE id = ?",
          now + SWEEP_RETRY_MS, now + SWEEP_RETRY_MS, upload.id,
        );
      }
    }
  }

  private async abortMultipart(upload: UploadRecord): Promise<void> {
    if (!upload.multipartId) return;
    try {
      await this.bucket.resumeMultipartUpload(upload.contextKey, upload.multipartId).abort();
    } catch (error) {
      // Already completed or aborted (by the request itself, or R2's own 7-day cleanup): nothing is left to abort.
      console.error(`upload ${upload.id}: aborting its multipart upload: ${String(error)}`);
    }
  }

  private async removeFromR2(upload: UploadRecord): Promise<void> {
    await this.abortMultipart(upload);
    if (upload.kind === "request") {
      await this.bucket.delete(upload.contextKey);
      return;
    }
    // Listed, not derived from the rows: a part stored in the instant before a crash has no row yet.
    let cursor: string | undefined;
    do {
      const listed = await this.bucket.list({ prefix: uploadPrefix(upload.id), cursor, limit: R2_MAX_DELETE_KEYS });
      if (listed.objects.length > 0) await this.bucket.delete(listed.objects.map((object) => object.key));
      cursor = listed.truncated ? listed.cursor : undefined;
    } while (cursor);
  }
}
