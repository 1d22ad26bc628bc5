/**
 * The job's build context, streamed from the Worker: a tar that goes straight
 * into Docker's build request, never to disk and never whole into memory.
 */
import { Readable } from "node:stream";
import type { ReadableStream as NodeReadableStream } from "node:stream/web";
import { LEASE_HEADER } from "../shared/protocol";

/** Enough of an error page to explain it, not so much that a proxy's HTML fills the report. */
const ERROR_BODY_CHARS = 1000;

export interface ContextRequest {
  workerUrl: string;
  contextPath: string;
  agentToken: string;
  leaseToken: string;
  signal: AbortSignal;
}

/** Opens the context download; throws with the Worker's status and answer when it refuses. */
export async function openContext(request: ContextRequest): Promise<Readable> {
  const response = await fetch(`${request.workerUrl}${request.contextPath}`, {
    headers: { Authorization: `Bearer ${request.agentToken}`, [LEASE_HEADER]: request.leaseToken },
    signal: request.signal,
  });
  if (!response.ok || !response.body) {
    const answer = await readStart(response.body);
    throw new Error(`GET ${request.contextPath} answered HTTP ${response.status}${answer ? `: ${answer}` : ""}`);
  }
  return Readable.fromWeb(response.body as NodeReadableStream<Uint8Array>);
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
