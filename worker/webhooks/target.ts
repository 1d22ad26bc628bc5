/**
 * Where a webhook may go. A notify URL is the tenant's, but the request comes
 * from the pool: it must not reach the Worker's own network neighbours. So
 * only https, no credentials in the URL, and no host that is, or resolves to,
 * a private, loopback, link-local or otherwise non-public address. Plain http
 * to loopback is allowed only when DOCKIFY_WEBHOOK_ALLOW_HTTP_LOOPBACK says so
 * (wrangler dev and tests).
 *
 * The URL parser already writes every IPv4 spelling (`0x7f.1`, `2130706433`)
 * as dotted decimal and IPv6 in its short form, so the checks below see one
 * spelling of each address.
 */

export interface TargetPolicy {
  allowHttpLoopback: boolean;
}

/** IPv4 ranges that are not the public internet (RFC 6890 and friends), as [first octets, prefix length]. */
const PRIVATE_V4: readonly [number[], number][] = [
  [[0], 8], // "this network"
  [[10], 8], // private
  [[100, 64], 10], // carrier-grade NAT
  [[127], 8], // loopback
  [[169, 254], 16], // link-local (cloud metadata lives here)
  [[172, 16], 12], // private
  [[192, 0, 0], 24], // IETF protocol assignments
  [[192, 0, 2], 24], // documentation
  [[192, 88, 99], 24], // 6to4 relay
  [[192, 168], 16], // private
  [[198, 18], 15], // benchmarking
  [[198, 51, 100], 24], // documentation
  [[203, 0, 113], 24], // documentation
  [[224], 4], // multicast
  [[240], 4], // reserved, and broadcast
];

function parseV4(host: string): number[] | null {
  const parts = host.split(".");
  if (parts.length !== 4 || !parts.every((part) => /^\d{1,3}$/.test(part))) return null;
  const octets = parts.map(Number);
  return octets.every((octet) => octet <= 255) ? octets : null;
}

/** The address as a number; not with bit operators, which work on signed 32-bit integers. */
function toNumber(octets: number[]): number {
  return octets.reduce((sum, octet) => sum * 256 + octet, 0);
}

function inPrefix(octets: number[], [first, bits]: [number[], number]): boolean {
  const block = 2 ** (32 - bits);
  return Math.floor(toNumber(octets) / block) === Math.floor(toNumber([...first, 0, 0, 0, 0].slice(0, 4)) / block);
}

function isLoopbackV4(octets: number[]): boolean {
  return octets[0] === 127;
}

/** The 8 groups of an IPv6 address (no brackets), or null. */
function parseV6(text: string): number[] | null {
  let host = text.toLowerCase();
  // An embedded IPv4 tail (::ffff:1.2.3.4) as two groups.
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(host);
  if (tail) {
    const v4 = parseV4(tail[1]!);
    if (!v4) return null;
    host = `${host.slice(0, -tail[1]!.length)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const halves = host.split("::");
  if (halves.length > 2) return null;
  const groups = (part: string) => (part === "" ? [] : part.split(":"));
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  const missing = 8 - head.length - rest.length;
  if ((halves.length === 1 && missing !== 0) || missing < 0) return null;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...rest];
  if (!all.every((group) => /^[0-9a-f]{1,4}$/.test(group))) return null;
  return all.map((group) => parseInt(group, 16));
}

/** The IPv4 address an IPv6 one carries (mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, compatible `::a.b.c.d`), or null. */
function embeddedV4(groups: number[]): number[] | null {
  const v4 = () => [groups[6]! >> 8, groups[6]! & 255, groups[7]! >> 8, groups[7]! & 255];
  const zeros = (from: number, to: number) => groups.slice(from, to).every((group) => group === 0);
  if (zeros(0, 5) && groups[5] === 0xffff) return v4();
  if (groups[0] === 0x64 && groups[1] === 0xff9b && zeros(2, 6)) return v4();
  if (zeros(0, 6) && !(groups[6] === 0 && groups[7]! <= 1)) return v4();
  return null;
}

export type AddressKind = "public" | "loopback" | "private";

/** Whether an IP address (IPv4 dotted, or IPv6 without brackets) is public, loopback, or otherwise not public; null if it is no address. */
export function classifyAddress(address: string): AddressKind | null {
  const v4 = parseV4(address);
  if (v4) {
    if (isLoopbackV4(v4)) return "loopback";
    return PRIVATE_V4.some((range) => inPrefix(v4, range)) ? "private" : "public";
  }
  const v6 = parseV6(address);
  if (!v6) return null;
  const embedded = embeddedV4(v6);
  if (embedded) return classifyAddress(embedded.join("."));
  if (v6.slice(0, 7).every((group) => group === 0) && v6[7] === 1) return "loopback";
  if (v6.every((group) => group === 0)) return "private"; // unspecified
  const first = v6[0]!;
  if ((first & 0xfe00) === 0xfc00) return "private"; // unique local fc00::/7
  if ((first & 0xffc0) === 0xfe80) return "private"; // link-local fe80::/10
  if ((first & 0xffc0) === 0xfec0) return "private"; // site-local (deprecated) fec0::/10
  if ((first & 0xff00) === 0xff00) return "private"; // multicast
  if (first === 0x2001 && v6[1] === 0x0db8) return "private"; // documentation
  if (first === 0x2002) return "private"; // 6to4: carries an IPv4 address of any kind
  if (first === 0x0100 && v6.slice(1, 4).every((group) => group === 0)) return "private"; // discard-only
  return "public";
}

/** Host names that mean this machine or a local network whatever DNS says. */
function isLocalName(host: string): "loopback" | "private" | null {
  if (host === "localhost" || host.endsWith(".localhost")) return "loopback";
  if (host.endsWith(".local") || host.endsWith(".internal") || host.endsWith(".home.arpa") || !host.includes(".")) return "private";
  return null;
}

/** The URL's host as an address (brackets removed), or null when it is a name. */
export function addressOf(url: URL): string | null {
  const host = url.hostname;
  if (host.startsWith("[") && host.endsWith("]")) return host.slice(1, -1);
  return parseV4(host) ? host : null;
}

/** Whether a host of this kind may be reached under the policy, with `scheme`. */
function allowed(kind: AddressKind, scheme: string, policy: TargetPolicy): boolean {
  if (kind === "public") return scheme === "https:";
  return kind === "loopback" && policy.allowHttpLoopback;
}

function refusal(kind: AddressKind, host: string): string {
  return kind === "loopback"
    ? `its host ${host} is this machine (loopback); webhooks go to public addresses only`
    : `its host ${host} is a private, link-local or reserved address; webhooks go to public addresses only`;
}

/** Why this notify URL is refused (a sentence), or null: what can be told from the URL itself, without DNS. */
export function notifyUrlProblem(text: string, policy: TargetPolicy): string | null {
  if (!URL.canParse(text)) return "must be an absolute URL, e.g. https://hooks.example.com/dockify";
  const url = new URL(text);
  if (url.protocol !== "https:" && url.protocol !== "http:") return "must be an https URL";
  if (url.username !== "" || url.password !== "") return "must not carry a user name or password: the request is signed instead (README, Webhooks)";
  const address = addressOf(url);
  const kind: AddressKind | null = address !== null ? classifyAddress(address) : isLocalName(url.hostname);
  if (kind !== null && kind !== "public") {
    if (!allowed(kind, url.protocol, policy)) return refusal(kind, url.hostname);
    return null;
  }
  if (url.protocol !== "https:") {
    return policy.allowHttpLoopback ? "must be an https URL (plain http only to a loopback address)" : "must be an https URL";
  }
  return null;
}

/** Why a resolved address of the URL's host is refused, or null. */
export function resolvedAddressProblem(url: URL, address: string, policy: TargetPolicy): string | null {
  const kind = classifyAddress(address);
  if (kind === null) return `its host ${url.hostname} resolves to ${address}, which is not an IP address`;
  if (allowed(kind, kind === "public" ? "https:" : url.protocol, policy)) return null;
  return `${refusal(kind, `${url.hostname} (${address})`)}`;
}
