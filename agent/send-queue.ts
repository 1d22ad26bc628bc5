/**
 * What the agent keeps to send while it is disconnected from the pool.
 * Results and phase changes are never dropped: a lost result would leave a
 * finished job to be built again. Log batches fill the queue up to its byte
 * budget and MAX_QUEUED_LOG_BATCHES (they all go out at once on the next
 * connection, within the pool's frame budget); past either they are dropped, and a `lines-dropped` event stands where
 * they were in the job's log, saying how many.
 */
import { MAX_QUEUED_LOG_BATCHES, type AgentMessage, type HeldJob } from "../shared/protocol";

/** Room for log batches while disconnected: at most 64 full batches. */
const DEFAULT_QUEUE_BYTES = 16 * 1024 * 1024;

/** Messages about one job: the ones worth keeping. */
type JobMessage = Exclude<AgentMessage, { type: MomentMessage }>;
/** Messages that describe the moment: the next connection sends its own. */
type MomentMessage = "hello" | "heartbeat" | "draining" | "paused" | "resumed" | "refused";
type LogMessage = Extract<JobMessage, { type: "log" }>;
type ResultMessage = Extract<JobMessage, { type: "result" }>;

const MOMENT_TYPES: ReadonlySet<AgentMessage["type"]> = new Set<MomentMessage>(["hello", "heartbeat", "draining", "paused", "resumed", "refused"]);

function isJobMessage(message: AgentMessage): message is JobMessage {
  return !MOMENT_TYPES.has(message.type);
}

/** Stands where the dropped lines were, so the log shows the gap in its place. */
interface DropNotice {
  jobId: string;
  attempt: number;
  droppedLines: number;
}

type Entry = { message: JobMessage } | { result: ResultMessage; held: HeldJob } | { notice: DropNotice };

export class SendQueue {
  readonly #maxBytes: number;
  readonly #onFirstDrop: (jobId: string) => void;
  #entries: Entry[] = [];
  #logBytes = 0;
  #logBatches = 0;

  /** `onFirstDrop` is told once per gap in a job's log, for the agent's own output. */
  constructor(options: { maxBytes?: number; onFirstDrop: (jobId: string) => void }) {
    this.#maxBytes = options.maxBytes ?? DEFAULT_QUEUE_BYTES;
    this.#onFirstDrop = options.onFirstDrop;
  }

  /**
   * Keeps a message for later. A result comes with the job's lease, which the
   * next hello must claim until the pool has the result. Hello, heartbeat,
   * draining, paused, resumed and refused describe the moment and are not kept
   * (a refusal lost with its connection is recovered by the lease; the next
   * welcome says draining or paused again).
   */
  push(message: AgentMessage, held?: HeldJob): void {
    if (!isJobMessage(message)) return;
    if (message.type === "log") return this.#pushLog(message);
    if (message.type === "result" && held) return void this.#entries.push({ result: message, held });
    this.#entries.push({ message });
  }

  /** Empties the queue, oldest first; results come with their lease for re-queueing. */
  drain(): Array<{ message: AgentMessage; held?: HeldJob }> {
    const entries = this.#entries;
    this.#entries = [];
    this.#logBytes = 0;
    this.#logBatches = 0;
    return entries.map((entry) => {
      if ("result" in entry) return { message: entry.result, held: entry.held };
      if ("message" in entry) return { message: entry.message };
      const { jobId, attempt, droppedLines } = entry.notice;
      return { message: { type: "log", jobId, attempt, entries: [{ event: { type: "lines-dropped", count: droppedLines } }] } };
    });
  }

  /** Jobs whose result waits here: still ours until the pool has it. */
  heldResults(): HeldJob[] {
    return this.#entries.flatMap((entry) => ("held" in entry ? [entry.held] : []));
  }

  #pushLog(message: LogMessage): void {
    const bytes = Buffer.byteLength(JSON.stringify(message));
    if (this.#logBytes + bytes <= this.#maxBytes && this.#logBatches < MAX_QUEUED_LOG_BATCHES) {
      this.#entries.push({ message });
      this.#logBytes += bytes;
      this.#logBatches += 1;
      return;
    }
    const last = this.#entries.findLast((entry) => jobIdOf(entry) === message.jobId);
    if (last && "notice" in last) {
      last.notice.droppedLines += message.entries.length;
      return;
    }
    this.#entries.push({ notice: { jobId: message.jobId, attempt: message.attempt, droppedLines: message.entries.length } });
    this.#onFirstDrop(message.jobId);
  }
}

function jobIdOf(entry: Entry): string {
  if ("notice" in entry) return entry.notice.jobId;
  return "result" in entry ? entry.result.jobId : entry.message.jobId;
}
