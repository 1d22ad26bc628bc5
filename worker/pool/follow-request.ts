/**
 * How the Worker asks its pool object for a live log: a plain request to the
 * object's `fetch`, answered with the SSE response itself. Not an RPC method
 * returning a stream: such a stream reports "Uncaught Error: Network
 * connection lost" each time a client disconnects, which a response body the
 * runtime pipes does not.
 */

const PATH = "/follow";
/** Set by the Worker, which alone talks to the object: the tenant asking. */
const TENANT_HEADER = "X-Dockify-Tenant";

export interface FollowRequest {
  id: string;
  tenant: string;
  /** The entry number after which the stream starts (Last-Event-ID, 0 for the start). */
  after: number;
}

export function followRequest({ id, tenant, after }: FollowRequest): Request {
  const url = new URL(`https://pool${PATH}`);
  url.searchParams.set("id", id);
  url.searchParams.set("after", String(after));
  return new Request(url, { headers: { [TENANT_HEADER]: tenant } });
}

/** The follow request, or null when `request` is something else (an agent's upgrade). */
export function readFollowRequest(request: Request): FollowRequest | null {
  const url = new URL(request.url);
  if (url.pathname !== PATH || request.headers.get("Upgrade")) return null;
  return {
    id: url.searchParams.get("id") ?? "",
    tenant: request.headers.get(TENANT_HEADER) ?? "",
    after: Number(url.searchParams.get("after") ?? 0),
  };
}
