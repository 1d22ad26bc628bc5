/** A test agent on a real WebSocket to the pool, inside workerd. */
import type { Labels } from "../../shared/labels";
import { AGENT_CAPABILITIES, type AgentMessage, type BuilderName, type PoolMessage } from "../../shared/protocol";
import { AGENT, call } from "./helpers";

export class TestAgent {
  readonly received: PoolMessage[] = [];
  closed: { code: number; reason: string } | null = null;
  private waiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.addEventListener("message", (event) => {
      this.received.push(JSON.parse(event.data as string) as PoolMessage);
      this.wake();
    });
    ws.addEventListener("close", (event) => {
      this.closed = { code: event.code, reason: event.reason };
      this.wake();
    });
  }

  static async connect(auth = AGENT, headers: Record<string, string> = {}): Promise<TestAgent | Response> {
    const response = await call("/agent/connect", { headers: { Upgrade: "websocket", Authorization: auth, ...headers } });
    if (!response.webSocket) return response;
    response.webSocket.accept();
    return new TestAgent(response.webSocket);
  }

  static async hello(name = "test-agent", concurrency = 1, labels: Labels = {}, builder: BuilderName = "buildkit"): Promise<TestAgent> {
    const agent = await TestAgent.connect();
    if (!(agent instanceof TestAgent)) throw new Error(`connect failed: ${agent.status}`);
    agent.send({ type: "hello", name, version: "test", concurrency, labels, holding: [], capabilities: [...AGENT_CAPABILITIES], builder });
    await agent.next("welcome");
    return agent;
  }

  send(message: AgentMessage | string): void {
    this.ws.send(typeof message === "string" ? message : JSON.stringify(message));
  }

  /** The first message of this type not yet taken. */
  async next<T extends PoolMessage["type"]>(type: T, timeoutMs = 2000): Promise<Extract<PoolMessage, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.received.findIndex((message) => message.type === type);
      if (index !== -1) return this.received.splice(index, 1)[0] as Extract<PoolMessage, { type: T }>;
      if (this.closed) throw new Error(`socket closed ${this.closed.code} ${this.closed.reason} while waiting for ${type}`);
      if (Date.now() > deadline) throw new Error(`no ${type} message within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  async waitClosed(timeoutMs = 2000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error("socket did not close");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return this.closed;
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}
