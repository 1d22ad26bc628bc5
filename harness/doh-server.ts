/**
 * A DNS-over-HTTPS resolver's JSON API on 127.0.0.1 for tests, answering from
 * a fixed table (name → IPv4 addresses): the machine has no DNS to ask, and
 * the Worker's check of where a notify URL's host points must be seen working.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { LOOPBACK } from "./ports";

export class DohServer {
  /** Names asked for, in order. */
  readonly asked: string[] = [];

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static start(table: Record<string, string[]>): Promise<DohServer> {
    return new Promise((resolve, reject) => {
      let doh: DohServer;
      const server = createServer((request, response) => {
        const query = new URL(request.url ?? "/", "http://doh").searchParams;
        const name = query.get("name") ?? "";
        doh.asked.push(name);
        const addresses = query.get("type") === "A" ? (table[name] ?? []) : [];
        const body = { Status: name in table ? 0 : 3, Answer: addresses.map((data) => ({ name, type: 1, TTL: 60, data })) };
        response.writeHead(200, { "Content-Type": "application/dns-json" }).end(JSON.stringify(body));
      });
      server.once("error", reject);
      server.listen(0, LOOPBACK, () => {
        doh = new DohServer(server, `http://${LOOPBACK}:${(server.address() as AddressInfo).port}/dns-query`);
        resolve(doh);
      });
    });
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
