/**
 * Docker's progress stream (build, push), read line by line. We do not use
 * `modem.followProgress`: it reports success for a stream that carried an
 * error, throws on a non-JSON line, can split a UTF-8 character across chunks
 * and keeps every event in memory.
 */
import { z } from "zod";

/** The fields of Docker's JSON messages (moby's jsonmessage.JSONMessage) that the agent reads. */
const dockerEvent = z.object({
  stream: z.string().optional(),
  status: z.string().optional(),
  id: z.string().optional(),
  progress: z.string().optional(),
  error: z.string().optional(),
  errorDetail: z.object({ message: z.string().optional() }).optional().catch(undefined),
  aux: z.object({ ID: z.string().optional(), Digest: z.string().optional() }).optional().catch(undefined),
  /** BuildKit's progress: the base64 protobuf that a `moby.buildkit.trace` line carries as its `aux` (builders/buildkit/trace.ts). */
  trace: z.string().optional(),
});

const TRACE_ID = "moby.buildkit.trace";

/** A trace line's `aux` is a string, not the object other lines carry: it moves to `trace`. */
function withTrace(json: unknown): unknown {
  if (typeof json !== "object" || json === null) return json;
  const { id, aux } = json as { id?: unknown; aux?: unknown };
  if (id !== TRACE_ID || typeof aux !== "string") return json;
  return { ...json, aux: undefined, trace: aux };
}
export type DockerEvent = z.infer<typeof dockerEvent>;

/** One line of the stream: a JSON message, or text that was not one (kept for the log). */
export type DockerStreamLine = { event: DockerEvent } | { text: string };

/** Splits a byte stream into lines and parses each; memory stays bounded by one line. */
export async function* readDockerStream(body: AsyncIterable<Uint8Array | string>): AsyncGenerator<DockerStreamLine> {
  const decoder = new TextDecoder("utf-8");
  let pending = "";
  for await (const chunk of body) {
    pending += typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true });
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) {
      const parsed = parseLine(line);
      if (parsed) yield parsed;
    }
  }
  const last = parseLine(pending + decoder.decode());
  if (last) yield last;
}

function parseLine(raw: string): DockerStreamLine | undefined {
  const line = raw.trim();
  if (!line) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return { text: line };
  }
  const parsed = dockerEvent.safeParse(withTrace(json));
  return parsed.success ? { event: parsed.data } : { text: line };
}

/** Docker's own error message, if this event reports a failure. */
export function eventError(event: DockerEvent): string | undefined {
  return event.errorDetail?.message || event.error || undefined;
}

/**
 * What a user should read of this event: build output as it came, and status
 * lines (layers pulled and pushed) without the redraws of progress bars.
 */
export function eventLogText(event: DockerEvent): string | undefined {
  if (event.stream !== undefined) return event.stream;
  if (event.status === undefined || event.progress !== undefined) return undefined;
  return event.id ? `${event.id}: ${event.status}\n` : `${event.status}\n`;
}

const PUSHED_DIGEST = /^(\S+): digest: (sha256:[0-9a-f]{64}) size: \d+$/;
const SHA256_DIGEST = /^sha256:[0-9a-f]{64}$/;

/** The manifest digest a push of `tag` reports: its status line, or failing that `aux.Digest`. */
export function pushedDigest(event: DockerEvent, tag: string): string | undefined {
  const match = event.status ? PUSHED_DIGEST.exec(event.status) : null;
  if (match?.[1] === tag) return match[2];
  const aux = event.aux?.Digest;
  return aux && SHA256_DIGEST.test(aux) ? aux : undefined;
}
