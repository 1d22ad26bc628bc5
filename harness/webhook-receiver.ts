/**
 * A webhook receiver on 127.0.0.1 for tests: records every request (headers,
 * raw body, when it came and when it was answered) and answers as its plan
 * says for the n-th request (status, and how long to wait first).
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { LOOPBACK } from "./ports";
import { poll } from "./poll";

export interface ReceivedRequest {
  headers: IncomingHttpHeaders;
  /** The body exactly as it came, for signature checks. */
  body: string;
  receivedAt: number;
  /** When the answer went out; null while the receiver still holds the request. */
  answeredAt: number | null;
  status: number;
}

/** How to answer the n-th request (1 for the first). */
export type ReceiverPlan = (n: number) => { status: number; delayMs?: number };

export class WebhookReceiver {
  readonly received: ReceivedRequest[] = [];

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static start(plan: ReceiverPlan = () => ({ status: 200 })): Promise<WebhookReceiver> {
    return new Promise((resolve, reject) => {
      let receiver: WebhookReceiver;
      const server = createServer((request, response) => {
        const chunks: Buffer[] = [];
        request.on("data", (chunk: Buffer) => chunks.push(chunk));
        request.on("end", () => {
          const { status, delayMs = 0 } = plan(receiver.received.length + 1);
          const entry: ReceivedRequest = { headers: request.headers, body: Buffer.concat(chunks).toString("utf8"), receivedAt: Date.now(), answeredAt: null, status };
          receiver.received.push(entry);
          const timer = setTimeout(() => {
            entry.answeredAt = Date.now();
            response.writeHead(status, { "Content-Type": "text/plain" }).end(`answered ${status}`);
          }, delayMs);
          // The Worker gave up (its timeout): nothing to answer.
          request.socket.on("close", () => clearTimeout(timer));
        });
      });
      server.once("error", reject);
      server.listen(0, LOOPBACK, () => {
        receiver = new WebhookReceiver(server, (server.address() as AddressInfo).port);
        resolve(receiver);
      });
    });
  }

  url(path = "/hook"): string {
    return `http://${LOOPBACK}:${this.port}${path}`;
  }

  /** Waits until at least `count` requests have come. */
  async waitFor(count: number, timeoutMs = 30_000): Promise<ReceivedRequest[]> {
    await poll(`${count} webhook request(s) on port ${this.port}`, async () => (this.received.length >= count ? true : undefined), { timeoutMs });
    return this.received;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
