/**
 * Dockify's own entries in a build's log ("[dockify] …"), as data. The agent
 * and the pool record these events, not sentences; `renderEvent` is the one
 * place that turns them into the log's text. A client that reads events (live
 * logs, a dashboard) can tell them from the build's own output, which may print
 * anything, "[dockify]" included.
 */
import { z } from "zod";
import { AGENT_FAILURE_STEPS } from "./job";

/** The builders an agent may run its jobs with (agent/builders/); its hello says which one it runs. */
export const BUILDERS = ["buildkit", "classic"] as const;
export type BuilderName = (typeof BUILDERS)[number];

// The text of events lives apart from their schemas, so a browser can show a log without bundling zod.
export { EVENT_PREFIX, renderEntry, renderEvent } from "./render-event";
/** The longest line a log entry may hold; longer ones are cut by whoever writes them. */
export const MAX_LOG_LINE_CHARS = 4096;

/** Free text inside an event is bounded like a log line. */
const text = z.string().max(MAX_LOG_LINE_CHARS);

/** Events an agent sends in its log batches; the pool checks them like every other message. */
export const agentEvent = z.discriminatedUnion("type", [
  /** What RUN steps get on this host, so a user whose step was killed can see why. */
  z.object({
    type: z.literal("limits"),
    network: text.nullable(),
    memoryBytes: z.number().int().positive().nullable(),
    cpus: z.number().positive().nullable(),
    timeLimitSeconds: z.number().int().positive(),
    /** Which builder runs the steps; absent from agents released before there were two. */
    builder: z.enum(BUILDERS).optional(),
  }),
  /** An image the Dockerfile names passed the check at its registry with the build's own credentials. */
  z.object({ type: z.literal("image-allowed"), reference: text }),
  /** How much of the build came from the builder's cache (steps other than FROM). */
  z.object({ type: z.literal("cache-reused"), reused: z.number().int().min(0), steps: z.number().int().positive() }),
  /** The Dockerfile mounts a build secret, so the build runs without the cache. */
  z.object({ type: z.literal("secrets-uncached") }),
  /** The Docker Engine failed, not the build: the agent gives the attempt back to the pool to run again. */
  z.object({ type: z.literal("engine-failed"), error: text }),
  z.object({ type: z.literal("downloading-context") }),
  z.object({ type: z.literal("pushing"), reference: text }),
  z.object({ type: z.literal("pushed"), reference: text, digest: text }),
  z.object({ type: z.literal("failed"), step: z.enum(AGENT_FAILURE_STEPS), error: text }),
  z.object({ type: z.literal("canceled") }),
  /** Lines the agent could not keep while it was disconnected from the pool. */
  z.object({ type: z.literal("lines-dropped"), count: z.number().int().positive() }),
  /** Lines the agent did not send because the build printed faster than a job's log may go (the frame budget). */
  z.object({ type: z.literal("lines-skipped"), count: z.number().int().positive(), maxLinesPerSecond: z.number().int().positive() }),
]);
export type AgentEvent = z.infer<typeof agentEvent>;

const attempt = z.number().int().positive();
const count = z.number().int().positive();

/**
 * What became of the agent that built a repository last when the build went elsewhere: connected with every slot
 * taken, paused (its host short of disk, or its operator), shutting down, unable to build it (labels, platform,
 * build options), or not connected.
 */
export const LAST_AGENT_STATES = ["busy", "paused", "draining", "unable", "disconnected"] as const;
export type LastAgentState = (typeof LAST_AGENT_STATES)[number];

/**
 * Why the pool gave a build to the agent it did: `warm-cache`, that agent built the tenant's repository last (its
 * build cache holds the layers); `least-busy`, the least busy agent that could take it, with what became of the one
 * that built it last, if any (LAST_AGENT_STATES).
 */
export const placement = z.discriminatedUnion("reason", [
  z.object({ reason: z.literal("warm-cache") }),
  z.object({
    reason: z.literal("least-busy"),
    lastAgent: z.object({ name: text, state: z.enum(LAST_AGENT_STATES) }).nullable(),
  }),
]);
export type Placement = z.infer<typeof placement>;

/** Events the pool itself records. */
export const poolEvent = z.discriminatedUnion("type", [
  /** `placement` is absent from logs written before the pool said why. */
  z.object({ type: z.literal("assigned"), attempt, agent: text, placement: placement.optional() }),
  z.object({ type: z.literal("refused"), attempt, reason: text }),
  z.object({ type: z.literal("lease-expired"), attempt }),
  /** Stands for an agent's lines when the job's secret no longer opens, so nothing could be redacted. */
  z.object({ type: z.literal("withheld"), reason: text }),
  /** Closes the text of a log that outgrew its caps. */
  z.object({ type: z.literal("lines-not-kept"), count, maxLines: count, maxBytes: count }),
]);
export type PoolEvent = z.infer<typeof poolEvent>;

/** Every event a build's log may hold, the agent's and the pool's: what live-log clients receive as data. */
export const buildEvent = z.discriminatedUnion("type", [...agentEvent.options, ...poolEvent.options]).meta({ id: "BuildEvent" });
export type BuildEvent = z.infer<typeof buildEvent>;

/** An entry of a log batch: a line of the build's own output, or an event of ours. */
export const logEntry = z.union([z.string().max(MAX_LOG_LINE_CHARS), z.object({ event: agentEvent })]);
export type LogEntry = string | { event: BuildEvent };

/**
 * The fields of events that carry free text (what a daemon, a registry or a user wrote), as opposed to names
 * of ours such as `type` or a failure `step`: redaction may rewrite these, and only these, so an event stays valid.
 */
const FREE_TEXT_FIELDS: ReadonlySet<string> = new Set(["network", "reference", "digest", "error", "reason", "agent"]);

/** Applies `change` to every free text an entry carries (redaction): a line, or an event's free-text fields. */
export function mapEntryText<T extends LogEntry>(entry: T, change: (text: string) => string): T {
  if (typeof entry === "string") return change(entry) as T;
  const event = Object.fromEntries(
    Object.entries(entry.event).map(([key, value]) => [key, FREE_TEXT_FIELDS.has(key) && typeof value === "string" ? change(value) : value]),
  );
  return { event } as T;
}

/** A log entry as an agent may send it. */
export type AgentLogEntry = z.infer<typeof logEntry>;
