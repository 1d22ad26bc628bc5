/**
 * What the agent downloads from the Worker for a job it holds (agent token and
 * lease token): the build context, a tar that goes straight into Docker's build
 * request, never to disk and never whole into memory; and the Dockerfile.
 *
 * The context is checked again on its way into Docker (openCheckedContext),
 * with the rules the Worker checked it with (shared/context/rules.ts), and
 * written anew from the checked entries: the Worker wrote it that way already,
 * so this changes nothing unless what arrives is not what the Worker wrote.
 * Then the stream errors before the archive's end, and Docker, which reads the
 * whole context before it builds, builds nothing. Memory stays bounded: file
 * data passes through in the chunks it arrives in; only the names are kept.
 */
import { Readable } from "node:stream";
import type { ReadableStream as NodeReadableStream } from "node:stream/web";
import { repackContext } from "../shared/context/repack";
import { LEASE_HEADER } from "../shared/protocol";

/** The Worker enforced its own entry limit; the names index (MAX_INDEX_BYTES) bounds the agent's memory whatever the count. */
const AGENT_MAX_ENTRIES = Number.MAX_SAFE_INTEGER;

/** Enough of an error page to explain it, not so much that a proxy's HTML fills the report. */
const ERROR_BODY_CHARS = 1000;

export interface JobDownload {
  workerUrl: string;
  /** The Worker's path for it, as the assignment names it (`contextPath`, `dockerfilePath`). */
  path: string;
  agentToken: string;
  leaseToken: string;
  signal: AbortSignal;
  /** Told the size of each chunk as it arrives (the agent's metrics). */
  onBytes?: (bytes: number) => void;
}

/** Opens a download; throws with the Worker's status and answer when it refuses. */
export async function openJobDownload(request: JobDownload): Promise<Readable> {
  const response = await fetch(`${request.workerUrl}${request.path}`, {
    headers: { Authorization: `Bearer ${request.agentToken}`, [LEASE_HEADER]: request.leaseToken },
    signal: request.signal,
  });
  if (!response.ok || !response.body) {
    const answer = await readStart(response.body);
    throw new Error(`GET ${request.path} answered HTTP ${response.status}${answer ? `: ${answer}` : ""}`);
  }
  const { onBytes } = request;
  // Counted on the web stream, before it becomes a Node one, so the build reads the same stream (and errors) as before.
  const body = onBytes
    ? response.body.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, controller) {
            onBytes(chunk.byteLength);
            controller.enqueue(chunk);
          },
        }),
      )
    : response.body;
  return Readable.fromWeb(body as NodeReadableStream<Uint8Array>);
}

/** The job's context for the build, checked again as it streams (see above). */
export async function openCheckedContext(request: JobDownload, dockerfile: string): Promise<Readable> {
  const body = await openJobDownload(request);
  // The build's Dockerfile must be a regular file where the build says (options.dockerfile), as the Worker checked.
  return Readable.from(repackContext(body, { maxEntries: AGENT_MAX_ENTRIES, dockerfile }), { objectMode: false });
}

async function readStart(body: ReadableStream<Uint8Array> | null): Promise<string> {
  if (!body) return "";
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  while (text.length < ERROR_BODY_CHARS) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  await reader.cancel();
  return text.slice(0, ERROR_BODY_CHARS).trim();
}
