/** Shared helpers for the Worker tests that run inside workerd. */
import { env, exports } from "cloudflare:workers";

export const ALICE = "Bearer alice-token";
export const BOB = "Bearer bob-token";
export const AGENT = "Bearer agent-token";
export const BASE = "http://dockify.test";

export function call(path: string, init: RequestInit = {}): Promise<Response> {
  return exports.default.fetch(new Request(`${BASE}${path}`, init));
}

export interface SeedBuild {
  query?: Record<string, string>;
  fields?: Record<string, string>;
  dockerfile?: { name: string; content: string } | null;
  files?: { name: string; content: string }[];
  headers?: Record<string, string>;
}

export function seedForm({ fields = {}, dockerfile, files = [] }: SeedBuild): FormData {
  const form = new FormData();
  for (const [key, value] of Object.entries(fields)) form.append(key, value);
  const df = dockerfile === undefined ? { name: "Dockerfile", content: "FROM scratch\nCOPY app.sh /\n" } : dockerfile;
  if (df) form.append("dockerfile", new File([df.content], df.name));
  for (const file of files) form.append("optional_files", new File([file.content], file.name));
  return form;
}

export function submit(build: SeedBuild = {}, auth = ALICE): Promise<Response> {
  const query = new URLSearchParams(build.query ?? { user_name: "alice", repo: "web", tag: "v1" });
  return call(`/build?${query}`, {
    method: "POST",
    headers: { Authorization: auth, ...build.headers },
    body: seedForm(build),
  });
}

export async function storedContexts(): Promise<string[]> {
  const listed = await env.BUCKET.list({ prefix: "contexts/" });
  return listed.objects.map((object) => object.key);
}
