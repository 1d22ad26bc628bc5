/**
 * Helpers for the fault and chaos suites: the v1 build API (record, log,
 * cancel), the registry's own view of a pushed image (its
 * manifest digest and a file read straight out of its layers), and the
 * Engine's running containers.
 */
import { createGunzip } from "node:zlib";
import { Readable } from "node:stream";
import { extract } from "tar-stream";
import { readResponse, type ApiResponse } from "./api";
import { docker, type RegistryAuth } from "./docker";
import { notYet, poll } from "./poll";

export interface BuildView {
  id: string;
  state: string;
  attempt: number;
  image_reference: string;
  digest: string | null;
  image_id: string | null;
  step: string | null;
  error: string | null;
  finished_at: string | null;
  [key: string]: unknown;
}

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

/** GET /v1/builds/{id}. */
export async function getBuild(url: string, token: string, id: string): Promise<ApiResponse<BuildView>> {
  return readResponse<BuildView>(await fetch(`${url}/v1/builds/${encodeURIComponent(id)}`, { headers: bearer(token) }));
}

/** GET /v1/builds/{id}/logs as text; throws on a non-200 answer. */
export async function getBuildLog(url: string, token: string, id: string): Promise<string> {
  const response = await fetch(`${url}/v1/builds/${encodeURIComponent(id)}/logs`, { headers: bearer(token) });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`GET /v1/builds/${id}/logs: HTTP ${response.status} ${text}`);
  return text;
}

/** POST /v1/builds/{id}/cancel; `token` undefined sends no Authorization header. */
export async function cancelBuild<T = Record<string, unknown>>(url: string, token: string | undefined, id: string): Promise<ApiResponse<T>> {
  const response = await fetch(`${url}/v1/builds/${encodeURIComponent(id)}/cancel`, {
    method: "POST",
    headers: token === undefined ? {} : bearer(token),
  });
  return readResponse<T>(response);
}

/** Polls GET /v1/builds/{id} until `done` holds for the record; returns it. */
export function waitForBuild(
  url: string,
  token: string,
  id: string,
  done: (build: BuildView) => boolean,
  options: { timeoutMs?: number; what?: string } = {},
): Promise<BuildView> {
  return poll(
    `${options.what ?? "build"} ${id}`,
    async () => {
      const { status, body } = await getBuild(url, token, id);
      return status === 200 && done(body) ? body : notYet(`HTTP ${status} ${JSON.stringify(body)}`);
    },
    { timeoutMs: options.timeoutMs ?? 60_000, intervalMs: 200 },
  );
}

const MANIFEST_TYPES = [
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
].join(", ");

function basic(auth: RegistryAuth): Record<string, string> {
  return { Authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString("base64")}` };
}

/** The digest the registry serves for `name:reference` (HEAD of the manifest), or undefined when it has none. */
export async function registryDigest(host: string, auth: RegistryAuth, name: string, reference: string): Promise<string | undefined> {
  const response = await fetch(`http://${host}/v2/${name}/manifests/${reference}`, {
    method: "HEAD",
    headers: { ...basic(auth), Accept: MANIFEST_TYPES },
  });
  if (response.status === 404) return undefined;
  if (response.status !== 200) throw new Error(`HEAD manifest ${name}:${reference}: HTTP ${response.status}`);
  return response.headers.get("Docker-Content-Digest") ?? undefined;
}

interface Manifest {
  layers: Array<{ digest: string; mediaType: string; size: number }>;
}

/**
 * Reads one file out of the image the registry serves under `name@digest`, the
 * way a pull would see it: the topmost layer holding `path` wins. Undefined
 * when no layer holds it.
 */
export async function registryFile(host: string, auth: RegistryAuth, name: string, digest: string, path: string): Promise<string | undefined> {
  const response = await fetch(`http://${host}/v2/${name}/manifests/${digest}`, { headers: { ...basic(auth), Accept: MANIFEST_TYPES } });
  if (response.status !== 200) throw new Error(`GET manifest ${name}@${digest}: HTTP ${response.status}`);
  const manifest = (await response.json()) as Manifest;
  const wanted = path.replace(/^\/+/, "");
  for (const layer of [...manifest.layers].reverse()) {
    const blob = await fetch(`http://${host}/v2/${name}/blobs/${layer.digest}`, { headers: basic(auth) });
    if (blob.status !== 200 || !blob.body) throw new Error(`GET blob ${layer.digest} of ${name}: HTTP ${blob.status}`);
    const content = await fileInLayer(Readable.fromWeb(blob.body as import("node:stream/web").ReadableStream), layer.mediaType, wanted);
    if (content !== undefined) return content;
  }
  return undefined;
}

function fileInLayer(body: Readable, mediaType: string, wanted: string): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const tar = extract();
    let found: string | undefined;
    tar.on("entry", (header, stream, next) => {
      const chunks: Buffer[] = [];
      const name = header.name.replace(/^\.?\/+/, "");
      stream.on("data", (chunk: Buffer) => {
        if (name === wanted) chunks.push(chunk);
      });
      stream.on("end", () => {
        if (name === wanted) found = Buffer.concat(chunks).toString("utf8");
        next();
      });
      stream.resume();
    });
    tar.on("finish", () => resolve(found));
    tar.on("error", reject);
    body.on("error", reject);
    if (mediaType.includes("gzip")) {
      const gunzip = createGunzip();
      gunzip.on("error", reject);
      body.pipe(gunzip).pipe(tar);
    } else {
      body.pipe(tar);
    }
  });
}

/** Running containers whose command line contains `text` (e.g. a marker echoed by a RUN step). */
export async function runningContainersWith(text: string): Promise<Array<{ Id: string; Command: string }>> {
  const containers = await docker.listContainers({ filters: { status: ["running"] } });
  return containers.filter((container) => container.Command.includes(text)).map(({ Id, Command }) => ({ Id, Command }));
}
