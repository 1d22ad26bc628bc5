/**
 * Where the metrics and health listener binds (DOCKIFY_AGENT_METRICS_ADDR):
 * `PORT` (loopback), `HOST:PORT` or `[IPv6]:PORT`, the host an IP address or
 * `localhost`. Port 0 takes a free port, which the agent prints.
 */
import { BlockList, isIP } from "node:net";

export interface ListenAddress {
  /** An IP address to bind; `localhost` is bound as 127.0.0.1, so what is bound is what was checked. */
  host: string;
  port: number;
  /** Only this host can connect. */
  loopback: boolean;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");

const ADDRESS = /^(?:(\[[0-9A-Fa-f:.]+\]|[^:[\]]+):)?(\d{1,5})$/;

/** The address, or a sentence saying what is wrong with the text. */
export function parseListenAddress(text: string): ListenAddress | { error: string } {
  const match = ADDRESS.exec(text);
  const port = Number(match?.[2]);
  if (!match || port > 65_535) return { error: "must be PORT, HOST:PORT or [IPv6]:PORT with HOST an IP address or localhost, e.g. 127.0.0.1:9464" };
  const written = match[1] ?? "127.0.0.1";
  const host = written === "localhost" ? "127.0.0.1" : written.replace(/^\[(.*)\]$/, "$1");
  const family = isIP(host);
  if (family === 0) return { error: `${JSON.stringify(written)} is not an IP address or localhost` };
  return { host, port, loopback: LOOPBACK.check(host, family === 6 ? "ipv6" : "ipv4") };
}

/** `127.0.0.1:9464`, `[::1]:9464`: as a URL writes the host. */
export function formatListenAddress({ host, port }: Pick<ListenAddress, "host" | "port">): string {
  return `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}
