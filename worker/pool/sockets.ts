/**
 * Agent sockets under the Hibernation API. Each socket is tagged with its
 * connection's agent id, which is also its only attachment: everything else
 * about the agent lives in SQLite and survives the object sleeping.
 */
import { CLOSE, MAX_MESSAGE_BYTES, type PoolMessage } from "../../shared/protocol";

interface Attachment {
  agentId: string;
}

export function acceptAgent(ctx: DurableObjectState): Response {
  const agentId = crypto.randomUUID();
  const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
  ctx.acceptWebSocket(server, [agentId]);
  server.serializeAttachment({ agentId } satisfies Attachment);
  return new Response(null, { status: 101, webSocket: client });
}

export function agentIdOf(ws: WebSocket): string {
  return (ws.deserializeAttachment() as Attachment).agentId;
}

export function connectedAgentIds(ctx: DurableObjectState): Set<string> {
  return new Set(ctx.getWebSockets().map(agentIdOf));
}

/** Sends to an agent if its socket is open; a lost message is recovered by the lease, not retried here. */
export function sendTo(ctx: DurableObjectState, agentId: string, message: PoolMessage): boolean {
  const ws = ctx.getWebSockets(agentId)[0];
  if (!ws) return false;
  try {
    ws.send(JSON.stringify(message));
    return true;
  } catch {
    return false;
  }
}

/** The frame as text, or why it is refused. */
export function frameText(message: string | ArrayBuffer): { text: string } | { refused: string; code: number } {
  if (typeof message !== "string") return { refused: "send JSON text frames", code: CLOSE.invalidMessage };
  if (message.length > MAX_MESSAGE_BYTES) return { refused: `message larger than ${MAX_MESSAGE_BYTES} bytes`, code: CLOSE.tooLarge };
  return { text: message };
}
