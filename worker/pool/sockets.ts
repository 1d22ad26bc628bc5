/**
 * Agent sockets under the Hibernation API. Each socket is tagged with its
 * connection's agent id, which is also its only attachment: everything else
 * about the agent lives in SQLite and survives the object sleeping.
 */
import { CLOSE, MAX_MESSAGE_BYTES, type PoolMessageToSend } from "../../shared/protocol";

/** What must survive hibernation: which connection this is, and which agent token opened it. */
export interface Attachment {
  agentId: string;
  tokenName: string;
}

/** The Worker names the agent token in this header when it hands the upgrade on; it overwrites any sent by the agent. */
export const AGENT_TOKEN_NAME_HEADER = "X-Dockify-Agent-Token-Name";

export function acceptAgent(ctx: DurableObjectState, tokenName: string): Response {
  const agentId = crypto.randomUUID();
  const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
  ctx.acceptWebSocket(server, [agentId]);
  server.serializeAttachment({ agentId, tokenName } satisfies Attachment);
  return new Response(null, { status: 101, webSocket: client });
}

export function attachmentOf(ws: WebSocket): Attachment {
  return ws.deserializeAttachment() as Attachment;
}

export function connectedAgentIds(ctx: DurableObjectState): Set<string> {
  return new Set(ctx.getWebSockets().map((ws) => attachmentOf(ws).agentId));
}

/** Sends to an agent if its socket is open; a lost message is recovered by the lease, not retried here. */
export function sendTo(ctx: DurableObjectState, agentId: string, message: PoolMessageToSend): boolean {
  const ws = ctx.getWebSockets(agentId)[0];
  if (!ws) return false;
  try {
    ws.send(JSON.stringify(message));
    return true;
  } catch (error) {
    // Said, not swallowed: the lease recovers the message, but a send that keeps failing must show somewhere.
    console.error(`could not send ${message.type} to agent ${agentId}: ${String(error)}`);
    return false;
  }
}

/** The frame as text, or why it is refused. */
export function frameText(message: string | ArrayBuffer): { text: string } | { refused: string; code: number } {
  if (typeof message !== "string") return { refused: "send JSON text frames", code: CLOSE.invalidMessage };
  if (new TextEncoder().encode(message).byteLength > MAX_MESSAGE_BYTES) {
    return { refused: `message larger than ${MAX_MESSAGE_BYTES} bytes`, code: CLOSE.tooLarge };
  }
  return { text: message };
}

/** Codes a peer may not send in a close frame: they only describe how a connection ended. */
const RESERVED_CLOSE_CODES = new Set([1005, 1006, 1015]);

/** Completes a close handshake the agent started; the socket may already be gone. */
export function closeQuietly(ws: WebSocket, code: number): void {
  try {
    ws.close(RESERVED_CLOSE_CODES.has(code) ? 1000 : code, "closed");
  } catch {
    // Already closed from this side.
  }
}
