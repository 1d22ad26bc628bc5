/**
 * Webhook deliveries of one pool: a row per build that ended with a notify
 * URL, sent from the alarm (never inside the job's state change), retried
 * with backoff until a 2xx answer or the last attempt, each attempt recorded.
 *
 * At least once: a delivery is claimed for the length of one attempt before
 * it is sent, so a pool that restarts mid-attempt sends it again once the
 * claim lapses. Receivers drop repeats by the delivery id, which is the same
 * on every attempt. Attempts run concurrently and do not hold up the pool:
 * the alarm starts them and returns, and each has its own timeout, so a slow
 * or dead receiver delays nothing but its own deliveries.
 */
import {
  DELIVERY_HEADER,
  EVENT_HEADER,
  SIGNATURE_HEADER,
  type Build,
  type WebhookAttempt,
  type WebhookDelivery,
  type WebhookEvent,
} from "../../shared/api";
import type { Env } from "../env";
import type { Settings } from "../settings";
import { signingSecrets } from "../webhooks/config";
import { resolveHost } from "../webhooks/resolve";
import { signatureHeader } from "../webhooks/signature";
import { addressOf, notifyUrlProblem, resolvedAddressProblem } from "../webhooks/target";
import { COUNTERS, type Counters } from "./counters";
import type { JobRecord, Row } from "./records";

/** Attempts one pool has on the wire at once; more wait for a free place. */
export const MAX_IN_FLIGHT = 16;
/**
 * Of those, one tenant's: a tenant whose receiver never answers (each attempt waits out the timeout) fills its own
 * places, never the other tenants' of the pool.
 */
export const MAX_IN_FLIGHT_PER_TENANT = 4;
/** Backoff grows by this factor from DOCKIFY_WEBHOOK_RETRY_SECONDS, up to MAX_RETRY_MS. */
const RETRY_FACTOR = 3;
const MAX_RETRY_MS = 3600_000;
/** An attempt's claim outlasts its timeout by this much, so a slow attempt is not sent twice by the same pool. */
const CLAIM_MARGIN_MS = 5_000;
const EVENT = "build.finished";
const USER_AGENT = "Dockify-Webhooks/1";

interface DeliveryRow {
  id: string;
  jobId: string;
  tenant: string;
  url: string;
  state: WebhookDelivery["state"];
  attempts: number;
  nextAttemptAt: number | null;
  createdAt: number;
  finishedAt: number | null;
}

function toDelivery(row: Row): DeliveryRow {
  return {
    id: row.id as string,
    jobId: row.job_id as string,
    tenant: row.tenant as string,
    url: row.url as string,
    state: row.state as DeliveryRow["state"],
    attempts: row.attempts as number,
    nextAttemptAt: (row.next_attempt_at as number | null) ?? null,
    createdAt: row.created_at as number,
    finishedAt: (row.finished_at as number | null) ?? null,
  };
}

/** What one attempt came to. `final`: no later attempt can do better (the URL or the configuration refuses it). */
interface Outcome {
  statusCode: number | null;
  error: string | null;
  final?: boolean;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The wait after failed attempt `attempt` (1 for the first). */
export function retryDelay(attempt: number, baseMs: number): number {
  return Math.min(baseMs * RETRY_FACTOR ** (attempt - 1), MAX_RETRY_MS);
}

export class WebhookDeliveries {
  /** Deliveries this object is sending right now. */
  /** The attempts on the wire, by delivery id, with whose they are. */
  private readonly inFlight = new Map<string, { tenant: string; attempt: Promise<void> }>();

  constructor(
    private readonly sql: SqlStorage,
    private readonly env: Env,
    private readonly config: Settings,
    private readonly counters: Counters,
    /** The build's record as the API shows it, for the body; null when the job is gone. */
    private readonly record: (jobId: string) => Build | null,
    /** Sets the alarm again from every due time (the next attempt among them). */
    private readonly rearm: () => Promise<void>,
  ) {}

  /** A delivery for a job that has just ended, due at once; false when it names no URL (or has one already). */
  create(job: Pick<JobRecord, "id" | "tenant" | "notifyUrl">, now: number): boolean {
    if (!job.notifyUrl) return false;
    const cursor = this.sql.exec(
      `INSERT OR IGNORE INTO webhook_deliveries (id, job_id, tenant, url, event, state, next_attempt_at, created_at)
       VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)`,
      crypto.randomUUID(), job.id, job.tenant, job.notifyUrl, EVENT, now, now,
    );
    return cursor.rowsWritten > 0;
  }

  /** When the alarm must next wake for a delivery, or null. */
  /**
   * When the alarm should next start attempts: the earliest due delivery that could start. One whose tenant (or the
   * pool) has no free place is left out; an attempt that ends re-arms, and so frees the place and wakes the alarm.
   * Otherwise a due delivery with no place would set the alarm in the past, again and again, until one ends.
   */
  nextDue(): number | null {
    if (this.inFlight.size >= MAX_IN_FLIGHT) return null;
    return this.sql
      .exec<{ due: number | null }>(
        "SELECT MIN(next_attempt_at) AS due FROM webhook_deliveries WHERE state = 'pending' AND tenant NOT IN (SELECT value FROM json_each(?))",
        JSON.stringify(this.fullTenants()),
      )
      .one().due;
  }

  /** Tenants with every place of theirs on the wire. */
  private fullTenants(): string[] {
    const counts = new Map<string, number>();
    for (const { tenant } of this.inFlight.values()) counts.set(tenant, (counts.get(tenant) ?? 0) + 1);
    return [...counts].filter(([, count]) => count >= MAX_IN_FLIGHT_PER_TENANT).map(([tenant]) => tenant);
  }

  pendingCount(): number {
    return this.sql.exec<{ count: number }>("SELECT COUNT(*) AS count FROM webhook_deliveries WHERE state = 'pending'").one().count;
  }

  /** A job's deliveries with their attempts, as `GET /v1/builds/{id}/deliveries` shows them. */
  forJob(jobId: string): WebhookDelivery[] {
    const rows = this.sql.exec<Row>("SELECT * FROM webhook_deliveries WHERE job_id = ? ORDER BY created_at", jobId).toArray().map(toDelivery);
    return rows.map((row) => ({
      id: row.id,
      event: EVENT,
      url: row.url,
      state: row.state,
      attempts: this.attemptsOf(row.id),
      next_attempt_at: row.state === "pending" ? iso(row.nextAttemptAt) : null,
      created_at: iso(row.createdAt)!,
      finished_at: iso(row.finishedAt),
    }));
  }

  /**
   * Starts every due delivery there is a place for (MAX_IN_FLIGHT, MAX_IN_FLIGHT_PER_TENANT), oldest first, and
   * returns at once: each attempt records itself when it ends.
   */
  sendDue(now: number): void {
    if (this.inFlight.size >= MAX_IN_FLIGHT) return;
    const due = this.sql
      .exec<Row>(
        "SELECT * FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at <= ? AND tenant NOT IN (SELECT value FROM json_each(?)) ORDER BY next_attempt_at LIMIT ?",
        now, JSON.stringify(this.fullTenants()), MAX_IN_FLIGHT * MAX_IN_FLIGHT_PER_TENANT,
      )
      .toArray()
      .map(toDelivery);
    const perTenant = new Map<string, number>();
    for (const { tenant } of this.inFlight.values()) perTenant.set(tenant, (perTenant.get(tenant) ?? 0) + 1);
    for (const delivery of due) {
      if (this.inFlight.size >= MAX_IN_FLIGHT) break;
      if (this.inFlight.has(delivery.id) || (perTenant.get(delivery.tenant) ?? 0) >= MAX_IN_FLIGHT_PER_TENANT) continue;
      perTenant.set(delivery.tenant, (perTenant.get(delivery.tenant) ?? 0) + 1);
      // Claimed before the first byte goes out: the alarm, should it fire meanwhile, leaves it alone.
      this.sql.exec("UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id = ?", now + this.config.webhookTimeoutMs + CLAIM_MARGIN_MS, delivery.id);
      const attempt = this.attempt(delivery)
        // Recording failed (the object is going away): the claim lapses and the delivery is sent again.
        .catch((error: unknown) => console.error(`webhook delivery ${delivery.id}: ${String(error)}`))
        .finally(() => this.inFlight.delete(delivery.id));
      this.inFlight.set(delivery.id, { tenant: delivery.tenant, attempt });
    }
  }

  /** Waits for the attempts on the wire (tests, and a clean shutdown). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.inFlight.values()].map(({ attempt }) => attempt));
  }

  private attemptsOf(deliveryId: string): WebhookAttempt[] {
    return this.sql
      .exec<Row>("SELECT * FROM webhook_attempts WHERE delivery_id = ? ORDER BY attempt", deliveryId)
      .toArray()
      .map((row) => ({
        attempt: row.attempt as number,
        at: iso(row.started_at as number)!,
        duration_ms: row.duration_ms as number,
        status_code: (row.status_code as number | null) ?? null,
        error: (row.error as string | null) ?? null,
      }));
  }

  private async attempt(delivery: DeliveryRow): Promise<void> {
    const attempt = delivery.attempts + 1;
    const startedAt = Date.now();
    let outcome: Outcome;
    try {
      outcome = await this.send(delivery, attempt);
    } catch (error) {
      const timedOut = error instanceof Error && error.name === "TimeoutError";
      const message = timedOut ? `no answer within ${this.config.webhookTimeoutMs / 1000} s` : error instanceof Error ? error.message : String(error);
      outcome = { statusCode: null, error: message };
    }
    const now = Date.now();
    this.sql.exec(
      "INSERT OR REPLACE INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms, status_code, error) VALUES (?, ?, ?, ?, ?, ?)",
      delivery.id, attempt, startedAt, now - startedAt, outcome.statusCode, outcome.error,
    );
    if (outcome.error === null) {
      this.sql.exec("UPDATE webhook_deliveries SET state = 'delivered', attempts = ?, next_attempt_at = NULL, finished_at = ? WHERE id = ?", attempt, now, delivery.id);
      this.counters.add(COUNTERS.webhookDeliveries, { outcome: "delivered" });
    } else {
      this.counters.add(COUNTERS.webhookAttemptsFailed);
      if (outcome.final || attempt >= this.config.webhookMaxAttempts) {
        this.sql.exec("UPDATE webhook_deliveries SET state = 'failed', attempts = ?, next_attempt_at = NULL, finished_at = ? WHERE id = ?", attempt, now, delivery.id);
        this.counters.add(COUNTERS.webhookDeliveries, { outcome: "failed" });
      } else {
        const next = now + retryDelay(attempt, this.config.webhookRetryMs);
        this.sql.exec("UPDATE webhook_deliveries SET attempts = ?, next_attempt_at = ? WHERE id = ?", attempt, next, delivery.id);
      }
    }
    await this.rearm();
  }

  /** One attempt: check where it goes, sign, POST, and say how it went. */
  private async send(delivery: DeliveryRow, attempt: number): Promise<Outcome> {
    const policy = { allowHttpLoopback: this.config.webhookAllowHttpLoopback };
    const refused = notifyUrlProblem(delivery.url, policy);
    if (refused) return { statusCode: null, error: `refused: notify_url ${refused}`, final: true };
    const secrets = signingSecrets(this.env, delivery.tenant);
    if (secrets.length === 0) return { statusCode: null, error: `refused: tenant '${delivery.tenant}' has no webhook signing secret (DOCKIFY_WEBHOOKS)`, final: true };
    const build = this.record(delivery.jobId);
    if (!build) return { statusCode: null, error: "the build is gone", final: true };

    const signal = AbortSignal.timeout(this.config.webhookTimeoutMs);
    const url = new URL(delivery.url);
    const literal = addressOf(url);
    // A name is resolved first; a literal address was checked above. localhost and its kind are refused or allowed by name.
    if (literal === null && url.hostname !== "localhost" && !url.hostname.endsWith(".localhost")) {
      for (const address of await resolveHost(url.hostname, this.config.webhookDohUrl, signal)) {
        const problem = resolvedAddressProblem(url, address, policy);
        if (problem) return { statusCode: null, error: `refused: notify_url ${problem}`, final: true };
      }
    }
    const event: WebhookEvent = { id: delivery.id, type: EVENT, attempt, created_at: iso(delivery.createdAt)!, build };
    const body = JSON.stringify(event);
    const response = await fetch(url, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        [SIGNATURE_HEADER]: await signatureHeader(secrets, body, Math.floor(Date.now() / 1000)),
        [DELIVERY_HEADER]: delivery.id,
        [EVENT_HEADER]: EVENT,
      },
      body,
      // A redirect could point anywhere, a private address included: it counts as a failure.
      redirect: "manual",
      signal,
    });
    await response.body?.cancel();
    if (response.status >= 200 && response.status < 300) return { statusCode: response.status, error: null };
    const redirect = response.status >= 300 && response.status < 400 ? " (redirects are not followed)" : "";
    return { statusCode: response.status, error: `the receiver answered HTTP ${response.status}${redirect}` };
  }
}
