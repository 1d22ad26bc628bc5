/**
 * The pool Durable Object: the RPC surface the Worker calls, the runtime's
 * hooks (agent sockets, the alarm), and the switch over agent messages. Every
 * change to a job goes through the scheduler's `apply` (scheduler.ts); the
 * state machine itself is `transition` (jobs.ts), the dispatch policy `plan`
 * (dispatch.ts).
 */
import { DurableObject } from "cloudflare:workers";
import { CLOSE, formatPlatform, type AgentMessage, type JobOutcome } from "../../shared/protocol";
import { agentVersionRefusal } from "../agent-version";
import type { Env } from "../env";
import { errorResponse, unknownBuild } from "../errors";
import { DEFAULT_POOL, fleet } from "../fleet";
import type { AgentView, QueueSummary, WebhookDelivery } from "../../shared/api";
import { toAgentView, toBuild } from "../responses";
import { settings, type Settings } from "../settings";
import { COUNTERS, Counters, type PoolMetrics } from "./counters";
import { WebhookDeliveries } from "./deliveries";
import { needsOf, waitingReason } from "./dispatch";
import { readFollowRequest, type FollowRequest } from "./follow-request";
import { Followers } from "./followers";
import { FrameBudgets } from "./frame-budget";
import { leaseHash } from "./leases";
import { overLimit } from "./limits";
import { BuildLogs } from "./log";
import { publicJob, type AgentRecord, type JobRecord, type NewJob, type PublicJob } from "./records";
import { pushTargets, Scheduler } from "./scheduler";
import { acceptAgent, AGENT_TOKEN_NAME_HEADER, attachmentOf, closeQuietly, connectedAgentIds, sendTo } from "./sockets";
import { SSE_HEADERS } from "./sse";
import { PoolStore } from "./store";
import { SWEEP_BATCH, Uploads, type CheckStart, type Result } from "./uploads";
import type { UploadPartRecord, UploadRecord } from "./records";
import { received, type Received } from "../responses";

/**
 * What an agent reports, with the job's secrets redacted from every text in it: a failure's error, and a success's
 * step names and errors (BuildKit writes ARG and ENV values into step names).
 */
function scrubbedOutcome(outcome: JobOutcome, scrub: (text: string) => string): JobOutcome {
  if (outcome.status === "failed") return { ...outcome, error: scrub(outcome.error) };
  if (outcome.status !== "succeeded" || !outcome.steps) return outcome;
  const steps = outcome.steps.map((step) => ({ ...step, name: scrub(step.name), ...(step.error === undefined ? {} : { error: scrub(step.error) }) }));
  return { ...outcome, steps };
}

export class Pool extends DurableObject<Env> {
  private readonly store: PoolStore;
  private readonly logs: BuildLogs;
  private readonly config: Settings;
  private readonly scheduler: Scheduler;
  /** This pool's name: the object is `idFromName(name)` (stub.ts). */
  private readonly name: string;
  /** Live-log streams (followers.ts), fed as the log grows. */
  private readonly followers: Followers;
  /** Each agent socket's frame budget (frame-budget.ts). */
  private readonly budgets: FrameBudgets;
  /** Counters and histograms for /metrics, in SQLite (counters.ts). */
  private readonly counters: Counters;
  /** Webhooks of builds that ended (deliveries.ts). */
  private readonly deliveries: WebhookDeliveries;
  /** Contexts before a build takes them: chunked uploads and requests still writing (uploads.ts). */
  private readonly uploads: Uploads;
  /** The tail of the agent messages being handled; see webSocketMessage. */
  private inbox: Promise<void> = Promise.resolve();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.name = ctx.id.name ?? DEFAULT_POOL;
    this.store = new PoolStore(ctx.storage.sql);
    this.logs = new BuildLogs(ctx.storage.sql, env.BUCKET);
    this.followers = new Followers(this.logs, (jobId) => toBuild(this.view(this.store.job(jobId)!)));
    this.logs.listen(this.followers);
    this.config = settings(env);
    this.counters = new Counters(ctx.storage.sql);
    this.deliveries = new WebhookDeliveries(
      ctx.storage.sql,
      env,
      this.config,
      this.counters,
      (jobId) => {
        const job = this.store.job(jobId);
        return job && toBuild(this.view(job));
      },
      () => this.scheduler.rearm(),
    );
    this.uploads = new Uploads(ctx.storage.sql, env.BUCKET, this.config, (tenant, except) => this.store.tenantUsage(tenant, except));
    this.scheduler = new Scheduler(ctx, env, this.store, this.logs, this.config, this.counters, this.deliveries, this.uploads);
    this.budgets = new FrameBudgets(this.config.heartbeatMs, (agentId) => this.store.agentConcurrency(agentId));
    this.store.keepOnlyAgents(connectedAgentIds(ctx));
    // The alarm is derived from the rows; re-deriving it on start means a lost alarm cannot strand a job.
    void ctx.blockConcurrencyWhile(() => this.scheduler.rearm());
  }

  // --- RPC from the Worker -------------------------------------------------

  /** Why a build of this size would break the tenant's limits now, or null: checked before uploading. */
  admit(tenant: string, contextBytes: number): string | null {
    return overLimit(this.store.tenantUsage(tenant), contextBytes, this.config);
  }

  /**
   * Stores a new job, or answers with the one this tenant already submitted
   * under the same idempotency key, or refuses it over the tenant's limits
   * (checked again here, where concurrent submissions are serialized). The
   * job takes over its context from the upload row `upload` (the request's
   * own, or a completed chunked upload) in the same step: from now on the
   * job's end deletes the context, and no sweep does.
   */
  async enqueue(job: NewJob, upload: string): Promise<{ job: PublicJob; created: boolean } | { refused: string; status: 409 | 429 }> {
    const existing = job.idempotencyKey ? this.store.jobByIdempotencyKey(job.tenant, job.idempotencyKey) : null;
    if (existing) return { job: this.view(existing), created: false };
    // Expired or being deleted is gone: the sweep or a DELETE may be removing its objects from R2 right now.
    const source = this.uploads.live(upload, Date.now());
    if (!source || source.tenant !== job.tenant || (source.kind === "parts" && source.state !== "ready")) {
      return { refused: `the context was deleted before the build could take it (upload '${upload}')`, status: 409 };
    }
    const refused = overLimit(this.store.tenantUsage(job.tenant, upload), job.contextBytes, this.config);
    if (refused) {
      this.counters.add(COUNTERS.submissionRefusals, { reason: "tenant_limit" });
      return { refused, status: 429 };
    }
    this.store.insertJob({ ...job, contextKey: source.contextKey }, Date.now());
    this.uploads.forget(upload);
    this.counters.add(COUNTERS.submitted);
    await this.scheduler.dispatch();
    return { job: this.view(this.store.job(job.id)!), created: true };
  }

  // --- Uploads: contexts before a build takes them (uploads.ts) --------------

  /** Records the intent to write a build's context before the first byte goes to R2; the sweep removes it if no build comes. */
  async beginContextWrite(id: string, tenant: string, contextKey: string, bytes: number): Promise<void> {
    this.uploads.beginRequest(id, tenant, contextKey, bytes, Date.now());
    await this.scheduler.rearm();
  }

  /** A request still writing or checking a context says it is alive, and how much it wrote; refused: stop (uploads.ts). */
  renewUpload(id: string, attempt: number | null, written = 0): Result<null> {
    return this.uploads.renew(id, attempt, Date.now(), written);
  }

  recordMultipart(id: string, attempt: number | null, multipartId: string): boolean {
    return this.uploads.recordMultipart(id, attempt, multipartId);
  }

  /** The request that wrote a context removed it from R2 itself (refused): the row goes too. */
  async forgetUpload(id: string): Promise<void> {
    this.uploads.forget(id);
    await this.scheduler.rearm();
  }

  async createUpload(tenant: string, size: number, partSize: number | undefined): Promise<Result<UploadRecord>> {
    const created = this.uploads.create(tenant, size, partSize, Date.now());
    await this.scheduler.rearm();
    return created;
  }

  uploadOf(id: string, tenant: string): { upload: UploadRecord; parts: UploadPartRecord[] } | null {
    const upload = this.uploads.tenantUpload(id, tenant);
    return upload && { upload, parts: this.uploads.parts(id) };
  }

  listUploads(tenant: string): { upload: UploadRecord; received: Received }[] {
    return this.uploads.list(tenant).map((upload) => ({ upload, received: received(this.uploads.parts(upload.id)) }));
  }

  partTarget(id: string, tenant: string, number: number): Result<{ bytes: number }> {
    return this.uploads.partTarget(id, tenant, number, Date.now());
  }

  async recordPart(id: string, tenant: string, part: UploadPartRecord): Promise<Result<{ replaced: string | null }>> {
    const recorded = this.uploads.recordPart(id, tenant, part, Date.now());
    await this.scheduler.rearm();
    return recorded;
  }

  async beginCheck(id: string, tenant: string): Promise<Result<CheckStart | { ready: UploadRecord }>> {
    const started = this.uploads.beginCheck(id, tenant, Date.now());
    await this.scheduler.rearm();
    return started;
  }

  async finishCheck(id: string, attempt: number, contextBytes: number): Promise<Result<UploadRecord>> {
    const finished = this.uploads.finishCheck(id, attempt, contextBytes, Date.now());
    await this.scheduler.rearm();
    return finished;
  }

  /** The check could not finish, not for its context's sake: the upload opens again (a new multipart id aborts the old). */
  async giveBackCheck(id: string, attempt: number): Promise<void> {
    this.uploads.giveBackCheck(id, attempt);
    await this.scheduler.rearm();
  }

  async deleteUpload(id: string, tenant: string): Promise<boolean> {
    try {
      return await this.uploads.delete(id, tenant, Date.now());
    } finally {
      // Also when R2 failed: the row marked for deletion is the sweep's to finish.
      await this.scheduler.rearm();
    }
  }

  findByIdempotencyKey(tenant: string, key: string): PublicJob | null {
    const job = this.store.jobByIdempotencyKey(tenant, key);
    return job && this.view(job);
  }

  /** A page of the tenant's builds, newest first. */
  list(tenant: string, limit: number, after?: { createdAt: number; id: string }): PublicJob[] {
    return this.store.tenantJobs(tenant, limit, after).map((job) => this.view(job));
  }

  /** The job, or null when it is not this tenant's: another tenant's job is as unknown as a made-up id. */
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
    const applied = await this.scheduler.apply(id, { type: "cancel" });
    if (!applied) return { job: this.view(job), outcome: "finished" };
    return { job: this.view(this.store.job(id)!), outcome: applied.result.end ? "canceled" : "canceling" };
  }

  /** The job's log so far; null when the job is not this tenant's. */
  async logText(id: string, tenant: string): Promise<string | null> {
    const job = this.tenantJob(id, tenant);
    return job && this.logs.read(job);
  }

  /** The webhook deliveries of the tenant's job, with their attempts; null when the job is not this tenant's. */
  deliveriesOf(id: string, tenant: string): WebhookDelivery[] | null {
    return this.tenantJob(id, tenant) && this.deliveries.forJob(id);
  }

  /** The agents connected to this pool, oldest connection first, each with the tenant's builds it runs. */
  agentsFor(tenant: string): AgentView[] {
    const builds = this.store.tenantJobsByAgent(tenant);
    return this.store
      .agents()
      .sort((a, b) => a.connectedAt - b.connectedAt || a.name.localeCompare(b.name))
      .map((agent) => toAgentView(agent, builds.get(agent.id) ?? []));
  }

  /** The tenant's waiting builds, grouped by why they wait, and the pool's whole queue. */
  queueFor(tenant: string, now = Date.now()): QueueSummary {
    const agents = this.store.agents();
    const queued = this.store.tenantQueuedJobs(tenant);
    const reasons = new Map<string, QueueSummary["reasons"][number]>();
    for (const job of queued) {
      const { kind, message } = waitingReason(needsOf(job), agents, this.name);
      const entry = reasons.get(message) ?? { kind, reason: message, builds: 0 };
      entry.builds += 1;
      reasons.set(message, entry);
    }
    const oldest = queued[0];
    return {
      pool: this.name,
      waiting: queued.length,
      oldest_wait_seconds: oldest ? Math.max(0, (now - oldest.createdAt) / 1000) : null,
      oldest_build: oldest?.id ?? null,
      reasons: [...reasons.values()].sort((a, b) => b.builds - a.builds),
      pool_waiting: this.store.queueLength().queued,
    };
  }

  /** What /metrics shows of this pool: its counters, and its builds, queue, agents and deliveries now. */
  metrics(now = Date.now()): PoolMetrics {
    const agents = this.store.agents();
    const { queued, oldestCreatedAt } = this.store.queueLength();
    const taking = agents.filter((agent) => !agent.draining && agent.paused === null);
    const paused = agents.filter((agent) => !agent.draining && agent.paused !== null).length;
    return {
      counters: this.counters.all(),
      builds: this.store.stateCounts(),
      queued,
      oldestWaitSeconds: oldestCreatedAt === null ? 0 : Math.max(0, (now - oldestCreatedAt) / 1000),
      agents: { ready: taking.length, draining: agents.length - taking.length - paused, paused },
      slots: agents.reduce((sum, agent) => sum + agent.concurrency, 0),
      freeSlots: taking.reduce((sum, agent) => sum + Math.max(0, agent.concurrency - agent.running), 0),
      webhooksPending: this.deliveries.pendingCount(),
    };
  }

  /** Where the job's context is, for an agent with the token of its current, unexpired lease; null for anyone else. */
  contextFor(jobId: string, leaseToken: string): string | null {
    return this.leasedJob(jobId, leaseToken)?.contextKey ?? null;
  }

  /** Where the job's context is and its Dockerfile's path in it, for the agent holding its lease (else null, like the context). */
  dockerfileFor(jobId: string, leaseToken: string): { contextKey: string; dockerfile: string } | null {
    const job = this.leasedJob(jobId, leaseToken);
    return job && { contextKey: job.contextKey, dockerfile: job.options.dockerfile };
  }

  private leasedJob(jobId: string, leaseToken: string): JobRecord | null {
    const job = this.store.job(jobId);
    return job !== null && job.leaseHash === leaseHash(leaseToken) && (job.leaseExpiresAt ?? 0) > Date.now() ? job : null;
  }

  private tenantJob(id: string, tenant: string): JobRecord | null {
    const job = this.store.job(id);
    return job && job.tenant === tenant ? job : null;
  }

  private view(job: JobRecord): PublicJob {
    return publicJob(job, job.state === "queued" ? waitingReason(needsOf(job), this.store.agents(), this.name) : null);
  }

  // --- Runtime hooks ---------------------------------------------------------

  override async fetch(request: Request): Promise<Response> {
    const follow = readFollowRequest(request);
    if (follow) return this.followLog(follow);
    if (request.headers.get("Upgrade")?.toLowerCase() !== "websocket") {
      return Response.json({ error: "agents connect with a WebSocket upgrade", field: "Upgrade" }, { status: 426 });
    }
    return acceptAgent(this.ctx, request.headers.get(AGENT_TOKEN_NAME_HEADER) ?? "");
  }

  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    // Checked and counted at once, before the queue below: a flood is cut off before it can queue up work.
    const admitted = this.budgets.admit(attachmentOf(ws).agentId, message, Date.now());
    if ("close" in admitted) {
      if (admitted.close) ws.close(admitted.close.code, admitted.close.reason);
      return Promise.resolve();
    }
    // One message at a time, in arrival order: handlers await decryption and R2, and a result must not
    // overtake the log batch sent before it, nor a heartbeat the refusal before it.
    const turn = this.inbox.then(() => this.onFrame(ws, admitted.message));
    this.inbox = turn.catch(() => undefined);
    return turn;
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    // Its jobs keep their leases: an agent that reconnects in time re-attaches them.
    this.budgets.forget(attachmentOf(ws).agentId);
    this.store.deleteAgent(attachmentOf(ws).agentId);
    // Answer the agent's close frame, or it waits out its own close timeout.
    closeQuietly(ws, code);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    this.budgets.forget(attachmentOf(ws).agentId);
    this.store.deleteAgent(attachmentOf(ws).agentId);
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    // Builds first: the sweep awaits R2 for every row it removes, and a lease that lapsed must not wait for that.
    await this.scheduler.expireLeases(now);
    // Started, not awaited: a slow receiver must not hold up the next alarm's lease expiries (deliveries.ts).
    this.deliveries.sendDue(Date.now());
    // A bounded batch: the rest are still due, so the alarm set again below fires again at once for them.
    await this.uploads.sweep(now, SWEEP_BATCH);
    await this.scheduler.rearm();
  }

  // --- Live logs -------------------------------------------------------------

  /**
   * The job's log as Server-Sent Events after entry `after`, live until the
   * build ends (followers.ts); another tenant's job is as unknown as a made-up id.
   */
  private followLog({ id, tenant, after }: FollowRequest): Response {
    if (!this.tenantJob(id, tenant)) return unknownBuild(id, "id").getResponse();
    const stream = this.followers.follow(id, after, tenant);
    if ("refused" in stream) return errorResponse(503, stream.refused, "id");
    return new Response(stream, { headers: SSE_HEADERS });
  }

  // --- Agents ----------------------------------------------------------------

  private async onFrame(ws: WebSocket, message: AgentMessage): Promise<void> {
    const { agentId, tokenName } = attachmentOf(ws);
    // Closed in the meantime (over budget): nothing more from it is worth doing.
    if (this.budgets.isClosing(agentId)) return;
    if (message.type === "hello") {
      const outdated = agentVersionRefusal(message.version, this.config.minAgentVersion);
      if (outdated) return ws.close(CLOSE.outdatedAgent, outdated.slice(0, 120));
      const forbidden = fleet(this.env).forbiddenAgentLabel(message.labels, tokenName);
      if (forbidden) return ws.close(CLOSE.forbidden, forbidden.slice(0, 120));
    } else if (!this.store.isConnected(agentId)) {
      this.budgets.markClosing(agentId, Date.now());
      return ws.close(CLOSE.invalidMessage, "send hello first");
    }
    await this.onAgentMessage(agentId, message);
  }

  private async onAgentMessage(agentId: string, message: AgentMessage): Promise<void> {
    const now = Date.now();
    const { leaseMs } = this.config;
    switch (message.type) {
      case "hello": {
        const { name, version, concurrency, labels } = message;
        const platform = message.platform ? formatPlatform(message.platform) : null;
        const capabilities = message.capabilities ?? [];
        this.store.upsertAgent({ id: agentId, name, version, platform, builder: message.builder ?? null, capabilities, concurrency, labels }, now);
        // Before dispatching: an agent that comes back short of disk, or shutting down, must not be handed a build first.
        if (message.paused) this.store.setPaused(agentId, message.paused);
        if (message.draining) this.store.markDraining(agentId);
        sendTo(this.ctx, agentId, { type: "welcome", agentId, heartbeatMs: this.config.heartbeatMs, leaseMs });
        await this.scheduler.renewHoldings(agentId, message.holding, now);
        return this.scheduler.dispatch();
      }
      case "heartbeat":
        this.store.setRefusing(agentId, false);
        this.store.markSeen(agentId, now);
        await this.scheduler.renewHoldings(agentId, message.holding, now);
        // Also re-arms the alarm for the renewed leases.
        return this.scheduler.dispatch();
      case "phase": {
        const { jobId, attempt, phase } = message;
        await this.scheduler.apply(jobId, { type: "phase", agentId, attempt, phase, now, leaseMs });
        return this.scheduler.rearm();
      }
      case "log": {
        // A batch also renews the lease of the agent holding the job; one from anyone else is dropped.
        const { jobId, attempt } = message;
        // Fenced first: opening the password to redact is work a stray batch does not earn.
        if (!(await this.scheduler.apply(jobId, { type: "renew", agentId, attempt, now, leaseMs }))) return;
        const scrubber = await this.scheduler.scrubbers.for(this.store.job(jobId));
        this.logs.append(jobId, message.entries.map(scrubber.entry));
        return;
      }
      case "draining":
        // It finishes what it runs but takes nothing new.
        return this.store.markDraining(agentId);
      case "paused":
        // Like draining, until it says it resumed; builds that wait say why (dispatch.ts, waitingReason).
        return this.store.setPaused(agentId, { cause: message.cause, detail: message.detail });
      case "resumed":
        this.store.setPaused(agentId, null);
        return this.scheduler.dispatch();
      case "refused": {
        const { jobId, attempt } = message;
        const scrubber = await this.scheduler.scrubbers.for(this.store.job(jobId));
        return this.scheduler.refused(agentId, jobId, attempt, scrubber.text(message.reason), message.givenBack === true);
      }
      case "result": {
        const { jobId, attempt } = message;
        const job = this.store.job(jobId);
        const scrubber = await this.scheduler.scrubbers.for(job);
        const outcome = scrubbedOutcome(message.outcome, scrubber.text);
        await this.scheduler.apply(jobId, { type: "result", agentId, attempt, outcome, pushTo: job ? pushTargets(job) : [] });
        return this.scheduler.dispatch();
      }
    }
  }
}
