/**
 * The dashboard's calls to the API, typed by shared/api.ts (types only: the
 * schemas stay out of the bundle). A 401 signs the user out.
 */
import type { AgentList, Build, BuildList, DeliveryList, ErrorBody, QueueSummary } from "../shared/api";
import { signOut, token } from "./session";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: ErrorBody | null,
  ) {
    super(body?.error ?? `HTTP ${status}`);
  }
}

/** Called when the token is refused, so the app can show the sign-in form. */
let onUnauthorized: () => void = () => undefined;
export function whenUnauthorized(handler: () => void): void {
  onUnauthorized = handler;
}

export function authHeaders(extra: Record<string, string> = {}): Record<string, string> {
  return { Authorization: `Bearer ${token() ?? ""}`, ...extra };
}

async function request<T>(method: string, path: string): Promise<{ status: number; body: T }> {
  const response = await fetch(path, { method, headers: authHeaders(), cache: "no-store" });
  const body = (await response.json().catch(() => null)) as T | ErrorBody | null;
  if (response.status === 401) {
    signOut();
    onUnauthorized();
  }
  if (!response.ok) throw new ApiError(response.status, body as ErrorBody | null);
  return { status: response.status, body: body as T };
}

export const api = {
  builds: (cursor?: string) => request<BuildList>("GET", `/v1/builds?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`).then((r) => r.body),
  build: (id: string) => request<Build>("GET", `/v1/builds/${encodeURIComponent(id)}`).then((r) => r.body),
  deliveries: (id: string) => request<DeliveryList>("GET", `/v1/builds/${encodeURIComponent(id)}/deliveries`).then((r) => r.body),
  cancel: (id: string) => request<Build>("POST", `/v1/builds/${encodeURIComponent(id)}/cancel`),
  agents: () => request<AgentList>("GET", "/v1/agents").then((r) => r.body),
  queue: () => request<QueueSummary>("GET", "/v1/queue").then((r) => r.body),
};
