/**
 * Every message between an agent and the pool, as zod schemas used on both
 * sides. Messages travel as JSON text frames over one WebSocket.
 */
import { z } from "zod";
import { BUILDERS, logEntry, MAX_LOG_LINE_CHARS } from "./build-log";
import { AGENT_FAILURE_STEPS, BUILD_PHASES } from "./job";
import { labelsSchema } from "./labels";
import { PLATFORM_TEXT } from "./platform";

/** Our own cap on what an agent sends, well under the platform's 1 MiB per WebSocket message. */
export const MAX_MESSAGE_BYTES = 256 * 1024;
/**
 * The most an assignment (the pool's one big message) may be, in UTF-8 bytes of its JSON: the platform's 1 MiB per
 * WebSocket message, less room for framing. shared/api.ts's bounds keep every assignment well under it; the pool
 * still measures each before it sends it, and fails the job rather than send one that cannot arrive.
 */
export const MAX_ASSIGNMENT_BYTES = 1024 * 1024 - 1024;
/** The build options as a job stores them (JSON) and the assignment carries them: shared/api.ts's bounds keep them under this. */
export const MAX_BUILD_OPTIONS_BYTES = 96 * 1024;
export const MAX_LOG_LINES_PER_MESSAGE = 200;
/**
 * The most builds one agent runs at once, so also the most jobs one hello or
 * heartbeat may claim: it keeps those messages well under MAX_MESSAGE_BYTES.
 */
export const MAX_CONCURRENCY = 64;

/**
 * The most log batches an agent sends for one job in a second: its log
 * streamer paces itself to this, and the pool's frame budget is derived from
 * it (worker/pool/frame-budget.ts).
 */
export const LOG_BATCHES_PER_SECOND = 10;
/** The most log batches an agent keeps while disconnected: it sends them all at once when it is back. */
export const MAX_QUEUED_LOG_BATCHES = 256;

/** The header that carries an assignment's lease token when the agent fetches the job's context. */
export const LEASE_HEADER = "X-Dockify-Lease";
/** The headers of the agent's context download. */
export const contextDownloadHeaders = z.object({
  [LEASE_HEADER]: z.string().meta({ description: "the lease token of the job's current assignment" }),
});

/**
 * `GET /agent/ping?version=…&labels=…` with an agent token: whether the Worker
 * would take this agent, without connecting it to a pool (so it can never be
 * given a job). `dockify-agent doctor` asks it. A version below the Worker's
 * minimum answers 426, labels the token is not granted 403, each as the
 * API's `{error, field}`; the pool refuses the same agent's hello with the
 * same sentence.
 */
export const AGENT_PING_PATH = "/agent/ping";
export const agentPing = z.object({
  /** The pool the agent's token joins. */
  pool: z.string(),
  /** The Worker's DOCKIFY_MIN_AGENT_VERSION, null when unset. */
  min_agent_version: z.string().nullable(),
});
export type AgentPing = z.infer<typeof agentPing>;
/** What a ping asks about: the agent's version and labels, each checked only when given. */
export const agentPingQuery = z.object({
  version: z.string().optional().meta({ description: "the agent's version, checked against DOCKIFY_MIN_AGENT_VERSION" }),
  labels: z.string().optional().meta({ description: "k=v,k=v: labels the agent would declare, checked against its token's grants" }),
});

/** Close codes the pool uses when it refuses an agent (4000-4999 are ours). */
export const CLOSE = {
  invalidMessage: 4400,
  /** The agent's own name for the Worker's HTTP 401 before the upgrade: the pool never gets that far. */
  unauthorized: 4401,
  /** The agent declared labels its token is not granted. */
  forbidden: 4403,
  /** The agent sent more frames than its budget (a second hello, a flood of heartbeats or reports). */
  frameBudget: 4429,
  /** The agent's version is older than the Worker's DOCKIFY_MIN_AGENT_VERSION (426: Upgrade Required). */
  outdatedAgent: 4426,
  tooLarge: 1009,
} as const;

const jobId = z.string().uuid();
const attempt = z.number().int().min(1);
/** A job an agent runs; the lease token proves it was assigned to this agent. */
const held = z.object({ jobId, attempt, leaseToken: z.string().min(32).max(128) });
export type HeldJob = z.infer<typeof held>;

/** What the agent's Engine builds for (`GET /version`'s Os and Arch, as an OCI platform). */
export const platformSchema = z.object({
  os: z.string().regex(/^[a-z0-9]{1,32}$/),
  architecture: z.string().regex(/^[a-z0-9_]{1,32}$/),
  variant: z.string().regex(/^[a-z0-9]{1,16}$/).optional(),
});
export type Platform = z.infer<typeof platformSchema>;

/** A reference an agent pushed, with the digest its registry stored. */
const pushedImage = z.object({ reference: z.string().max(512), digest: z.string().regex(/^sha256:[0-9a-f]{64}$/) });
export type PushedImage = z.infer<typeof pushedImage>;

/** A platform as Docker writes it: `os/arch[/variant]`. */
export function formatPlatform({ os, architecture, variant }: Platform): string {
  return `${os}/${architecture}${variant ? `/${variant}` : ""}`;
}

export { BUILDERS, type BuilderName } from "./build-log";

/**
 * Why an agent that is connected takes no builds for a while, as the pool
 * says it when a build waits: `every agent that can build it is paused: low
 * disk on builder-1 (…)`.
 */
export const PAUSE_CAUSES = { "low-disk": "low disk" } as const;
export type PauseCause = keyof typeof PAUSE_CAUSES;
/** The cause's detail, said in brackets after it: what was measured and which setting it crossed. */
export const MAX_PAUSE_DETAIL_CHARS = 200;
const pause = z.object({
  cause: z.enum(Object.keys(PAUSE_CAUSES) as [PauseCause, ...PauseCause[]]),
  detail: z.string().max(MAX_PAUSE_DETAIL_CHARS),
});
export type Pause = z.infer<typeof pause>;

/** The cap on a step's name in the build's record. */
export const MAX_STEP_NAME_CHARS = 512;

/** One step of a build as the user sees it on the build's record. */
export const buildStep = z.object({
  /** As the builder names it, e.g. `[2/3] RUN make`. */
  name: z.string().max(MAX_STEP_NAME_CHARS),
  /** Reused from the builder's cache rather than run. */
  cached: z.boolean(),
  /** Milliseconds since the epoch; null when the builder did not say. */
  startedAt: z.number().int().nullable(),
  durationMs: z.number().int().min(0).nullable(),
  error: z.string().max(MAX_LOG_LINE_CHARS).optional(),
});
export type BuildStep = z.infer<typeof buildStep>;
/** Steps beyond this many are not reported (a Dockerfile of hundreds of steps still builds). */
export const MAX_REPORTED_STEPS = 200;


/**
 * What an agent says it understands, in its hello. `build-options`: the assignment's build options (build args,
 * target, no-cache, platform, Dockerfile path), also_push, logins and build secrets. An agent released before them
 * would drop them unread and build something else than asked, so a job that uses any waits for one that says this.
 */
export const BUILD_OPTIONS_CAPABILITY = "build-options";
export const AGENT_CAPABILITIES: readonly string[] = [BUILD_OPTIONS_CAPABILITY];

const agentMessages = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("hello"),
    name: z.string().min(1).max(100),
    version: z.string().max(50),
    concurrency: z.number().int().min(1).max(MAX_CONCURRENCY),
    labels: labelsSchema,
    /** Jobs this agent is still running, after a reconnect. */
    holding: z.array(held).max(MAX_CONCURRENCY),
    /** What its Engine builds for; absent from agents released before platforms were matched. */
    platform: platformSchema.optional(),
    builder: z.enum(BUILDERS).optional(),
    /** What it understands (AGENT_CAPABILITIES); names a pool does not know are kept, never refused: newer agents add some. */
    capabilities: z.array(z.string().max(50)).max(32).optional(),
    /** Set when the agent connects paused: the pool gives it nothing before it says `resumed`. */
    paused: pause.optional(),
    /** Set when the agent connects while draining (after a dropped connection): the pool gives it nothing new. */
    draining: z.boolean().optional(),
  }),
  z.object({ type: z.literal("heartbeat"), holding: z.array(held).max(MAX_CONCURRENCY) }),
  /** The agent is shutting down: it finishes what it runs and takes nothing new. */
  z.object({ type: z.literal("draining") }),
  /** The agent takes nothing new until it says `resumed` (its host is short of disk, say); what it runs goes on. */
  pause.extend({ type: z.literal("paused") }),
  z.object({ type: z.literal("resumed") }),
  /**
   * The agent did not take an assignment, or gives back one it started (`givenBack`: its Docker Engine failed, not
   * the build); the pool queues the job again at once. Only a job given back on its last attempt ends.
   */
  z.object({ type: z.literal("refused"), jobId, attempt, reason: z.string().max(200), givenBack: z.boolean().optional() }),
  z.object({ type: z.literal("phase"), jobId, attempt, phase: z.enum(BUILD_PHASES) }),
  z.object({
    type: z.literal("log"),
    jobId,
    attempt,
    /** Lines of the build's output and Dockify's own events, in the order they happened. */
    entries: z.array(logEntry).min(1).max(MAX_LOG_LINES_PER_MESSAGE),
  }),
  z.object({
    type: z.literal("result"),
    jobId,
    attempt,
    outcome: z.discriminatedUnion("status", [
      z.object({
        status: z.literal("succeeded"),
        /** The digest of the job's own reference (`image`). */
        digest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
        imageId: z.string().max(200),
        /** Every reference pushed, the job's own first, each with the digest its registry stored. */
        pushed: z.array(pushedImage).max(17).optional(),
        steps: z.array(buildStep).max(MAX_REPORTED_STEPS).optional(),
      }),
      z.object({
        status: z.literal("failed"),
        step: z.enum(AGENT_FAILURE_STEPS),
        error: z.string().min(1).max(MAX_LOG_LINE_CHARS),
      }),
      z.object({ status: z.literal("canceled") }),
    ]),
  }),
]);

/**
 * Agents released before log entries sent `lines: string[]`. A pool deployed ahead of its agents still takes them
 * (Workers deploy at once, build hosts update when their operators get to it), as plain lines.
 */
function fromOlderAgents(raw: unknown): unknown {
  if (typeof raw !== "object" || raw === null) return raw;
  const message = raw as Record<string, unknown>;
  if (message.type !== "log" || "entries" in message || !("lines" in message)) return raw;
  const { lines, ...rest } = message;
  return { ...rest, entries: lines };
}

export const agentMessage = z.preprocess(fromOlderAgents, agentMessages);
export type AgentMessage = z.infer<typeof agentMessage>;
export type JobOutcome = Extract<AgentMessage, { type: "result" }>["outcome"];

export const registryAuth = z.object({
  username: z.string(),
  password: z.string(),
  serveraddress: z.string(),
});
export type RegistryAuth = z.infer<typeof registryAuth>;

const imageName = z.object({ reference: z.string(), registry: z.string(), path: z.string(), tag: z.string() });

/** How to build, as the user asked and the Worker checked. Defaults are what a plain `docker build` does. */
export const buildOptions = z.object({
  /** The Dockerfile's path inside the context. */
  dockerfile: z.string().max(4096).default("Dockerfile"),
  buildArgs: z.record(z.string(), z.string()).default({}),
  target: z.string().max(128).optional(),
  noCache: z.boolean().default(false),
  /** `os/arch[/variant]`; the Engine's own when absent. The API's own grammar, so what it accepts an agent reads. */
  platform: z.string().regex(PLATFORM_TEXT).optional(),
});
export type BuildOptions = z.infer<typeof buildOptions>;

/** A job handed to an agent under a lease. */
export const assignMessage = z.object({
  type: z.literal("assign"),
  jobId,
  attempt,
  /** Proves this assignment when fetching the context; valid only while the lease lasts. */
  leaseToken: z.string().min(32),
  contextPath: z.string().startsWith("/"),
  /** Where the agent reads the Dockerfile the build will use (same lease token), to check the images it names first. */
  dockerfilePath: z.string().startsWith("/").optional(),
  image: imageName,
  /** More references to push from the same build, after `image`. */
  alsoPush: z.array(imageName).max(16).default([]),
  /** The login for the registry `image` is pushed to; undefined: anonymous. */
  auth: registryAuth.optional(),
  /** Logins for any registry the build pulls from, one per host (`serveraddress`); `auth`'s host is among them. */
  logins: z.array(registryAuth).max(16).default([]),
  options: buildOptions.default({ dockerfile: "Dockerfile", buildArgs: {}, noCache: false }),
  /** Build secrets for `RUN --mount=type=secret,id=…`; their values never leave the agent but through the builder's session. */
  secrets: z.array(z.object({ id: z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/), value: z.string() })).max(32).default([]),
  /** Keeps cache mounts apart: one scope per tenant, so a build never reads another tenant's cache mount. */
  cacheScope: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).optional(),
});

export const poolMessage = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("welcome"),
    agentId: z.string(),
    /** The pool dictates timing, so the control plane can slow a fleet down. */
    heartbeatMs: z.number().int().positive(),
    leaseMs: z.number().int().positive(),
  }),
  assignMessage,
  z.object({ type: z.literal("cancel"), jobId, attempt, reason: z.string() }),
]);
export type PoolMessage = z.infer<typeof poolMessage>;
/** A message as the pool writes it: fields with a default may be left out. */
export type PoolMessageToSend = z.input<typeof poolMessage>;
export type Assignment = z.infer<typeof assignMessage>;

/** Parses one text frame; returns the zod error's first issue as a readable reason on failure. */
export function parseMessage<T>(schema: z.ZodType<T>, text: string): { ok: true; message: T } | { ok: false; reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, reason: "message is not JSON" };
  }
  const parsed = schema.safeParse(json);
  if (parsed.success) return { ok: true, message: parsed.data };
  const issue = parsed.error.issues[0];
  const where = issue?.path.length ? issue.path.join(".") : "message";
  return { ok: false, reason: `${where}: ${issue?.message ?? "invalid"}`.slice(0, 120) };
}
