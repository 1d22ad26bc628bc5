/** Shared helpers for the Worker tests that run inside workerd. */
import { env, exports } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { extract } from "tar-stream";
import { DEFAULT_POOL, poolStub } from "../../worker/pool/stub";

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

/** Every R2 key under `prefix`. */
export async function storedKeys(prefix = ""): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const listed = await env.BUCKET.list({ prefix, cursor });
    keys.push(...listed.objects.map((object) => object.key));
    cursor = listed.truncated ? listed.cursor : undefined;
  } while (cursor);
  return keys;
}

/** The pool's rows of contexts on their way to a build (requests writing them, chunked uploads). */
export async function uploadRows(): Promise<{ id: string; kind: string; state: string; tenant: string }[]> {
  return runInDurableObject(poolStub(env, DEFAULT_POOL), (_pool, state) =>
    state.storage.sql.exec<{ id: string; kind: string; state: string; tenant: string }>("SELECT id, kind, state, tenant FROM uploads").toArray(),
  );
}

export interface ListedEntry {
  name: string;
  type: string;
  mode: number;
  linkname?: string;
  content?: string;
}

/** An archive's entries as tar-stream (not Dockify's own reader) reads them. */
export async function listTar(bytes: Uint8Array): Promise<ListedEntry[]> {
  const entries: ListedEntry[] = [];
  const reader = extract();
  const done = new Promise<void>((resolve, reject) => {
    reader.on("entry", (header, stream, next) => {
      const chunks: Uint8Array[] = [];
      stream.on("data", (chunk: Uint8Array) => chunks.push(chunk));
      stream.on("end", () => {
        const entry: ListedEntry = { name: header.name, type: header.type ?? "file", mode: header.mode ?? 0 };
        if (header.linkname) entry.linkname = header.linkname;
        if (entry.type === "file") {
          const bytes = new Uint8Array(chunks.reduce((total, chunk) => total + chunk.length, 0));
          chunks.reduce((at, chunk) => (bytes.set(chunk, at), at + chunk.length), 0);
          entry.content = new TextDecoder().decode(bytes);
        }
        entries.push(entry);
        next();
      });
    });
    reader.on("finish", () => resolve());
    reader.on("error", reject);
  });
  reader.end(bytes);
  await done;
  return entries;
}

/** The bytes of a stored object. */
export async function storedBytes(key: string): Promise<Uint8Array> {
  const object = await env.BUCKET.get(key);
  if (!object) throw new Error(`${key} is not in R2`);
  return new Uint8Array(await object.arrayBuffer());
}

export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await new Response(new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer());
}
