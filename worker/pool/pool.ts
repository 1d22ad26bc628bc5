/**
 * The pool Durable Object: jobs in SQLite, agents on hibernatable WebSockets,
 * one alarm for the earliest lease expiry. Runtime hooks only hand off to the
 * methods below; the state machine itself is `transition` in jobs.ts.
 */
import { DurableObject } from "cloudflare:workers";
import { redact } from "../../shared/redact";
import { authServerAddress, formatReference } from "../../shared/reference";
import { agentMessage, CLOSE, parseMessage, type AgentMessage, type HeldJob } from "../../shared/protocol";
import { deleteContext } from "../contexts";
import type { Env } from "../env";
import { settings, type Settings } from "../settings";
import { open, UnreadableSecretError } from "../secrets";
import { transition, type Transition } from "./jobs";
import { leaseHash, newLeaseToken } from "./leases";
import { overLimit } from "./limits";
import { logKey } from "./logs";
import { canTake, hasFreeSlot, waitingReason } from "./matching";
import { forbiddenLabel, parseGrants } from "./grants";
import { acceptAgent, AGENT_TOKEN_NAME_HEADER, attachmentOf, closeQuietly, connectedAgentIds, frameText, sendTo } from "./sockets";
import { PoolStore, type AgentRecord, type JobRecord, type NewJob } from "./store";
import { publicJob, type PublicJob } from "./view";

type Hello = Extract<AgentMessage, { type: "hello" }>;

/** Why the pool tells an agent to stop a job. */
const STOP = {
  user: "canceled by the user",
  notYours: "this job is no longer assigned to you",
  leaseExpired: "your lease on this job expired",
} as const;

function leastBusy(agents: readonly AgentRecord[]): AgentRecord | undefined {
  return agents.reduce<AgentRecord | undefined>((best, agent) => (!best || agent.running < best.running ? agent : best), undefined);
}

export class Pool extends DurableObject<Env> {
  private readonly store: PoolStore;
  private readonly config: Settings;
  /** The tail of the agent messages being handled; see webSocketMessage. */
  private inbox: Promise<void> = Promise.resolve();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new PoolStore(ctx.storage.sql);
    this.config = settings(env);
    this.store.keepOnlyAgents(connectedAgentIds(ctx));
    // The alarm is derived from the lease rows; re-deriving it on start means a lost alarm cannot strand a job.
    void ctx.blockConcurrencyWhile(() => this.rearm());
  }

  // --- RPC from the Worker -------------------------------------------------

  /** Why a build of this size would break the tenant's limits now, or null: checked before uploading. */
  admit(tenant: string, contextBytes: number): string | null {
    return overLimit(this.store.tenantUsage(tenant), contextBytes, this.config);
  }

  /**
   * Stores a new job, or answers with the one this tenant already submitted
   * under the same idempotency key, or refuses it over the tenant's limits
   * (checked again here, where concurrent submissions are serialized).
   */
  async enqueue(job: NewJob): Promise<{ job: PublicJob; created: boolean } | { refused: string }> {
    const existing = job.idempotencyKey ? this.store.jobByIdempotencyKey(job.tenant, job.idempotencyKey) : null;
    if (existing) return { job: this.view(existing), created: false };
    const refused = this.admit(job.tenant, job.contextBytes);
    if (refused) return { refused };
    this.store.insertJob(job, Date.now());
    await this.dispatch();
    return { job: this.view(this.store.job(job.id)!), created: true };
  }

  findByIdempotencyKey(tenant: string, key: string): PublicJob | null {
    const job = this.store.jobByIdempotencyKey(tenant, key);
    return job && this.view(job);
  }

  /** A page of the tenant's builds, newest first. */
  list(tenant: string, limit: number, after?: { createdAt: number; id: string }): PublicJob[] {
    return this.store.tenantJobs(tenant, limit, after).map((job) => this.view(job));
  }

  describe(id: string, tenant: string): PublicJob | null {
    const job = this.tenantJob(id, tenant);
    return job && this.view(job);
  }

  /**
   * Cancels a job: a queued one ends at once; a running one is marked and its
   * agent told to abort, and it ends when the agent confirms (or its lease lapses).
   */
  async cancel(id: string, tenant: string): Promise<{ job: PublicJob; outcome: "canceled" | "canceling" | "finished" } | null> {
    const job = this.tenantJob(id, tenant);
    if (!job) return null;
    const result = transition(job, { type: "cancel" });
    if (!result.ok) return { job: this.view(job), outcome: "finished" };
    await this.record(job, result, Date.now());
    if (job.agentId && !result.end) this.tellToStop(job.agentId, id, job.attempt, STOP.user);
    return { job: this.view(this.store.job(id)!), outcome: result.end ? "canceled" : "canceling" };
  }

  /** The job's log so far; null when the job is not this tenant's. */
  async logText(id: string, tenant: string): Promise<string | null> {
    const job = this.tenantJob(id, tenant);
    if (!job) return null;
    if (job.finishedAt === null) return this.store.logText(id);
    const stored = await this.env.BUCKET.get(logKey(id));
    return stored ? stored.text() : this.store.logText(id);
  }

  /** An agent may read a job's context only with the token of its current, unexpired lease. */
  mayFetchContext(jobId: string, leaseToken: string): boolean {
    const job = this.store.job(jobId);
    return job !== null && job.leaseHash === leaseHash(leaseToken) && (job.leaseExpiresAt ?? 0) > Date.now();
  }

  private tenantJob(id: string, tenant: string): JobRecord | null {
    const job = this.store.job(id);
    return job && job.tenant === tenant ? job : null;
  }

  private view(job: JobRecord): PublicJob {
    return publicJob(job, job.state === "queued" ? waitingReason(job, this.store.agents()) : null);
  }

  // --- Runtime hooks ---------------------------------------------------------

  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get("Upgrade")?.toLowerCase() !== "websocket") {
      return Response.json({ error: "agents connect with a WebSocket upgrade", field: "Upgrade" }, { status: 426 });
    }
    return acceptAgent(this.ctx, request.headers.get(AGENT_TOKEN_NAME_HEADER) ?? "");
  }

  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    // One message at a time, in arrival order: handlers await decryption and R2, and a result must not
    // overtake the log batch sent before it, nor a heartbeat the refusal before it.
    const turn = this.inbox.then(() => this.onFrame(ws, message));
    this.inbox = turn.catch(() => undefined);
    return turn;
  }

  private async onFrame(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const frame = frameText(message);
    if ("refused" in frame) return ws.close(frame.code, frame.refused);
    const parsed = parseMessage(agentMessage, frame.text);
    if (!parsed.ok) return ws.close(CLOSE.invalidMessage, parsed.reason);
    const { agentId, tokenName } = attachmentOf(ws);
    if (parsed.message.type === "hello") {
      const forbidden = forbiddenLabel(parsed.message.labels, tokenName, parseGrants(this.env.DOCKIFY_AGENT_TOKEN_LABELS));
      if (forbidden) return ws.close(CLOSE.forbidden, forbidden.slice(0, 120));
    } else if (!this.store.isConnected(agentId)) {
      return ws.close(CLOSE.invalidMessage, "send hello first");
    }
    await this.onAgentMessage(agentId, parsed.message);
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    // Its jobs keep their leases: an agent that reconnects in time re-attaches them.
    this.store.deleteAgent(attachmentOf(ws).agentId);
    // Answer the agent's close frame, or it waits out its own close timeout.
    closeQuietly(ws, code);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    this.store.deleteAgent(attachmentOf(ws).agentId);
  }

  override async alarm(): Promise<void> {
    await this.expireLeases(Date.now());
  }

  // --- Agents ----------------------------------------------------------------

  private async onAgentMessage(agentId: string, message: AgentMessage): Promise<void> {
    const now = Date.now();
    switch (message.type) {
      case "hello":
        return this.onHello(agentId, message);
      case "heartbeat":
        this.store.setRefusing(agentId, false);
        this.renewHoldings(agentId, message.holding, now);
        // Re-arms the alarm for the renewed leases as well.
        return this.dispatch();
      case "phase": {
        const job = this.store.job(message.jobId);
        if (!job) return;
        const { phase, attempt } = message;
        await this.record(job, transition(job, { type: "phase", agentId, attempt, phase, now, leaseMs: this.config.leaseMs }), now);
        return this.rearm();
      }
      case "log": {
        const scrub = await this.scrubberFor(message.jobId);
        return this.onLog(agentId, message.jobId, message.attempt, message.lines.map(scrub));
      }
      case "draining":
        // It finishes what it runs but takes nothing new.
        this.store.markDraining(agentId);
        return;
      case "refused": {
        const scrub = await this.scrubberFor(message.jobId);
        const job = this.store.job(message.jobId);
        if (!job) return;
        const released = transition(job, { type: "refused", agentId, attempt: message.attempt });
        if (!released.ok) return;
        this.store.setRefusing(agentId, true);
        this.store.appendLog(job.id, [`[dockify] attempt ${job.attempt}: the agent did not take it (${scrub(message.reason)}); queued again`]);
        await this.record(job, released, now);
        return this.dispatch();
      }
      case "result": {
        const scrub = await this.scrubberFor(message.jobId);
        const job = this.store.job(message.jobId);
        if (!job) return;
        const outcome = message.outcome.status === "failed" ? { ...message.outcome, error: scrub(message.outcome.error) } : message.outcome;
        await this.record(job, transition(job, { type: "result", agentId, attempt: message.attempt, outcome }), now);
        return this.dispatch();
      }
    }
  }

  private async onHello(agentId: string, hello: Hello): Promise<void> {
    const now = Date.now();
    this.store.upsertAgent({ id: agentId, name: hello.name, concurrency: hello.concurrency, labels: hello.labels }, now);
    sendTo(this.ctx, agentId, {
      type: "welcome",
      agentId,
      heartbeatMs: this.config.heartbeatMs,
      leaseMs: this.config.leaseMs,
    });
    this.renewHoldings(agentId, hello.holding, now);
    await this.dispatch();
  }

  /** Extends the leases an agent proves it holds; tells it to drop any it no longer does. */
  private renewHoldings(agentId: string, holding: readonly HeldJob[], now: number): void {
    for (const held of holding) {
      const job = this.store.job(held.jobId);
      const proven = job !== null && job.leaseHash === leaseHash(held.leaseToken);
      const renewed = proven
        ? transition(job, { type: "renew", agentId, attempt: held.attempt, now, leaseMs: this.config.leaseMs, reattach: true })
        : null;
      if (job && renewed?.ok) {
        this.store.saveLease(job.id, renewed.lease, job.leaseHash, now);
        // Repeated on every heartbeat until the agent confirms: a cancel sent into a dropped socket is not lost.
        if (job.cancelRequested) this.tellToStop(agentId, job.id, job.attempt, STOP.user);
      } else {
        this.tellToStop(agentId, held.jobId, held.attempt, STOP.notYours);
      }
    }
  }

  private tellToStop(agentId: string, jobId: string, attempt: number, reason: (typeof STOP)[keyof typeof STOP]): void {
    sendTo(this.ctx, agentId, { type: "cancel", jobId, attempt, reason });
  }

  /** Lines arrive already scrubbed (see `scrubberFor`); a batch also renews the lease of the agent holding the job. */
  private onLog(agentId: string, jobId: string, attempt: number, lines: readonly string[]): void {
    const job = this.store.job(jobId);
    const now = Date.now();
    if (!job) return;
    const renewed = transition(job, { type: "renew", agentId, attempt, now, leaseMs: this.config.leaseMs });
    if (!renewed.ok) return;
    this.store.saveLease(job.id, renewed.lease, job.leaseHash, now);
    this.store.appendLog(jobId, lines);
  }

  /**
   * Redacts the job's registry password from text an agent sent (log lines,
   * errors, reasons): an agent's own redaction is not something to rely on.
   * It awaits decryption, so callers read the job again afterwards.
   */
  private async scrubberFor(jobId: string): Promise<(text: string) => string> {
    const job = this.store.job(jobId);
    try {
      const password = job ? await this.openPassword(job) : undefined;
      return (text) => redact(text, [password]);
    } catch {
      // Without the password nothing can be redacted, so nothing is kept.
      return () => `[dockify] withheld: ${new UnreadableSecretError().message}`;
    }
  }

  // --- Scheduling ------------------------------------------------------------

  /** Hands queued jobs, oldest first, to the least busy agents with a free slot and the labels they ask for. */
  private async dispatch(): Promise<void> {
    const now = Date.now();
    const assigned: { job: JobRecord; agent: AgentRecord; attempt: number; leaseToken: string }[] = [];
    const agents = this.store.agents();
    // Heartbeats dispatch too: with every slot busy, the queue is not even read.
    for (const job of agents.some(hasFreeSlot) ? this.store.queuedJobs() : []) {
      if (!agents.some(hasFreeSlot)) break;
      const agent = leastBusy(agents.filter((candidate) => canTake(candidate, job)));
      if (!agent) continue;
      const result = transition(job, { type: "assign", agentId: agent.id, now, leaseMs: this.config.leaseMs });
      if (!result.ok) continue;
      const leaseToken = newLeaseToken();
      this.store.saveLease(job.id, result.lease, leaseHash(leaseToken), now);
      this.store.appendLog(job.id, [`[dockify] attempt ${result.lease.attempt}: assigned to agent ${agent.name}`]);
      agent.running += 1;
      assigned.push({ job, agent, attempt: result.lease.attempt, leaseToken });
    }
    await this.rearm();
    let freed = false;
    for (const { job, agent, attempt, leaseToken } of assigned) {
      if (!(await this.sendAssignment(job, agent.id, attempt, leaseToken))) freed = true;
    }
    // A job that ended instead of being sent freed its slot for the next one in the queue.
    if (freed) await this.dispatch();
  }

  /** Sends the assignment; false when the job had to end instead (its password no longer opens). */
  private async sendAssignment(job: JobRecord, agentId: string, attempt: number, leaseToken: string): Promise<boolean> {
    const image = { registry: job.registry, path: job.path, tag: job.tag, reference: formatReference(job) };
    let password: string | undefined;
    try {
      password = await this.openPassword(job);
    } catch (error) {
      // The key changed past DOCKIFY_SECRET_KEY_PREVIOUS while the job waited: say so rather than push without a login.
      const current = this.store.job(job.id);
      const message = error instanceof Error ? error.message : String(error);
      if (current) await this.record(current, transition(current, { type: "fail", step: "push", error: `${message}; submit the build again` }), Date.now());
      return false;
    }
    const auth = password === undefined
      ? undefined
      : { username: job.userName, password, serveraddress: authServerAddress(job.registry) };
    sendTo(this.ctx, agentId, {
      type: "assign",
      jobId: job.id,
      attempt,
      leaseToken,
      contextPath: `/agent/jobs/${job.id}/context`,
      image,
      auth,
    });
    return true;
  }

  private async expireLeases(now: number): Promise<void> {
    for (const { id } of this.store.expiredLeases(now)) {
      // Read each job afresh: ending the one before awaited R2, and other events may have moved this one meanwhile.
      const job = this.store.job(id);
      if (!job) continue;
      const result = transition(job, { type: "leaseExpired", now, maxAttempts: this.config.maxAttempts });
      if (!result.ok) continue;
      if (job.agentId) this.tellToStop(job.agentId, job.id, job.attempt, STOP.leaseExpired);
      if (!result.end) {
        this.store.appendLog(job.id, [`[dockify] attempt ${job.attempt}: the agent stopped responding; the job is queued again`]);
      }
      await this.record(job, result, now);
    }
    await this.dispatch();
  }

  /** Saves a transition; when it ends the job, wipes the secret, archives the log and drops the context. */
  private async record(job: JobRecord, result: Transition, now: number): Promise<void> {
    if (!result.ok) return;
    if (!result.end) {
      this.store.saveLease(job.id, result.lease, job.leaseHash, now);
      return;
    }
    this.store.saveEnd(job.id, result.lease, result.end, now);
    // The end is recorded; R2 trouble must not undo it or stop dispatching. A log that fails to archive stays in SQLite.
    try {
      await this.env.BUCKET.put(logKey(job.id), this.store.logText(job.id));
      this.store.deleteLog(job.id);
    } catch (error) {
      console.error(`job ${job.id}: could not archive its log to R2, keeping it in SQLite: ${String(error)}`);
    }
    try {
      await deleteContext(this.env.BUCKET, job.id);
    } catch (error) {
      console.error(`job ${job.id}: could not delete its context from R2: ${String(error)}`);
    }
  }

  /** The job's registry password, undefined when it has none. */
  private async openPassword(job: JobRecord): Promise<string | undefined> {
    if (!job.sealedPassword) return undefined;
    return open([this.env.DOCKIFY_SECRET_KEY, this.env.DOCKIFY_SECRET_KEY_PREVIOUS], job.id, job.sealedPassword);
  }

  private async rearm(): Promise<void> {
    const due = this.store.earliestLeaseExpiry();
    if (due === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(due);
  }
}
