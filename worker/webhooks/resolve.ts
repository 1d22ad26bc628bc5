/**
 * Where a notify URL's host points, asked of a DNS-over-HTTPS resolver (the
 * JSON API that Cloudflare's and Google's resolvers answer, `DOCKIFY_WEBHOOK_DOH_URL`).
 * A Worker cannot resolve names itself, nor tell `fetch` which address to use:
 * the pool asks before each attempt and refuses a host with any non-public
 * address, but the fetch resolves again, so a host whose answers change
 * between the two (DNS rebinding) is not stopped here. README says so.
 */

const DNS_TYPES = { A: 1, AAAA: 28 } as const;

interface DohAnswer {
  Status?: number;
  Answer?: { type?: number; data?: string }[];
}

/** The A and AAAA addresses of `host`; throws with a sentence when the resolver cannot say. */
export async function resolveHost(host: string, dohUrl: string, signal: AbortSignal): Promise<string[]> {
  const answers = await Promise.all(
    Object.entries(DNS_TYPES).map(async ([name, type]) => {
      const url = new URL(dohUrl);
      url.searchParams.set("name", host);
      url.searchParams.set("type", name);
      const response = await fetch(url, { headers: { Accept: "application/dns-json" }, signal });
      if (!response.ok) throw new Error(`the DNS resolver answered HTTP ${response.status} for ${host}`);
      const body = (await response.json()) as DohAnswer;
      // 0 NOERROR; 3 NXDOMAIN (no such name) is an empty answer, said below.
      if (body.Status !== 0 && body.Status !== 3) throw new Error(`the DNS resolver could not resolve ${host} (status ${body.Status})`);
      return (body.Answer ?? []).filter((record) => record.type === type && typeof record.data === "string").map((record) => record.data!);
    }),
  );
  const addresses = answers.flat();
  if (addresses.length === 0) throw new Error(`${host} does not resolve to any address`);
  return addresses;
}
