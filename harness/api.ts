/** Tiny HTTP clients for tests: the seed's `POST /build` and polling `GET /status/{id}`. */
import { notYet, poll } from "./poll";

export interface UploadFile {
  /** The multipart file name (a path inside the build context). */
  name: string;
  content: string | Uint8Array;
}

export interface SeedBuild {
  /** Query parameters, as the seed's own test sent them: user_name, repo, tag, registry, password. */
  query?: Record<string, string>;
  /** The same text fields sent as multipart form fields instead. */
  fields?: Record<string, string>;
  /** The `dockerfile` upload: its content (named `Dockerfile`) or a file with its own name. */
  dockerfile?: string | UploadFile;
  /** `optional_files` uploads. */
  files?: UploadFile[];
  headers?: Record<string, string>;
}

export interface ApiResponse<T = unknown> {
  status: number;
  /** Parsed JSON, or the raw text when the body is not JSON. */
  body: T;
  headers: Headers;
}

export async function readResponse<T>(response: Response): Promise<ApiResponse<T>> {
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body: body as T, headers: response.headers };
}

function blobOf(content: string | Uint8Array): Blob {
  return new Blob([typeof content === "string" ? content : Buffer.from(content)]);
}

function authHeaders(token: string | undefined, extra?: Record<string, string>): Record<string, string> {
  return { ...(token === undefined ? {} : { Authorization: `Bearer ${token}` }), ...extra };
}

/** POST /build as multipart/form-data; `token` undefined sends no Authorization header. */
export async function submitSeedBuild<T = Record<string, unknown>>(
  url: string,
  token: string | undefined,
  build: SeedBuild,
): Promise<ApiResponse<T>> {
  const form = new FormData();
  for (const [key, value] of Object.entries(build.fields ?? {})) form.append(key, value);
  if (build.dockerfile !== undefined) {
    const dockerfile = typeof build.dockerfile === "string" ? { name: "Dockerfile", content: build.dockerfile } : build.dockerfile;
    form.append("dockerfile", blobOf(dockerfile.content), dockerfile.name);
  }
  for (const file of build.files ?? []) form.append("optional_files", blobOf(file.content), file.name);
  const query = new URLSearchParams(build.query ?? {}).toString();
  const response = await fetch(`${url}/build${query ? `?${query}` : ""}`, {
    method: "POST",
    headers: authHeaders(token, build.headers),
    body: form,
  });
  return readResponse<T>(response);
}

/** GET /status/{id} once. */
export async function getStatus<T = Record<string, unknown>>(url: string, token: string | undefined, id: string) {
  return readResponse<T>(await fetch(`${url}/status/${encodeURIComponent(id)}`, { headers: authHeaders(token) }));
}

export interface WaitForStatusOptions<T> {
  /** Done when this returns true for the status body (and HTTP status). */
  until: (body: T, status: number) => boolean;
  timeoutMs?: number;
  intervalMs?: number;
}

/** Polls GET /status/{id} (every 200 ms by default) until `until` holds; throws with the last answer on timeout. */
export function waitForStatus<T = Record<string, unknown>>(
  url: string,
  token: string | undefined,
  id: string,
  { until, timeoutMs = 120_000, intervalMs = 200 }: WaitForStatusOptions<T>,
): Promise<T> {
  // A request that fails (the Worker may be restarting) is only "not yet".
  return poll(
    `status of ${id}`,
    async () => {
      const { status, body } = await getStatus<T>(url, token, id);
      return until(body, status) ? body : notYet(`HTTP ${status} ${JSON.stringify(body)}`);
    },
    { timeoutMs, intervalMs },
  );
}
