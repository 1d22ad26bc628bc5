/**
 * The registry's own view of a pushed image, asked over its HTTP API rather than
 * through the Engine: the digest it serves for a tag, and a file read straight
 * out of the image's layers.
 */
import { Readable } from "node:stream";
import type { ReadableStream } from "node:stream/web";
import { createGunzip, gunzipSync } from "node:zlib";
import { extract } from "tar-stream";
import type { RegistryAuth } from "./docker";

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
    const content = await fileInLayer(Readable.fromWeb(blob.body as ReadableStream), layer.mediaType, wanted);
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

/**
 * Everything the registry serves for the image `name@digest`, as one text to search: its manifest, its config (the
 * history included) and every layer, decompressed. For proving that something is nowhere in a pushed image.
 */
export async function registryImageText(host: string, auth: RegistryAuth, name: string, digest: string): Promise<string> {
  const response = await fetch(`http://${host}/v2/${name}/manifests/${digest}`, { headers: { ...basic(auth), Accept: MANIFEST_TYPES } });
  if (response.status !== 200) throw new Error(`GET manifest ${name}@${digest}: HTTP ${response.status}`);
  const manifestText = await response.text();
  const manifest = JSON.parse(manifestText) as Manifest & { config: { digest: string } };
  const parts = [manifestText];
  for (const blob of [{ digest: manifest.config.digest, mediaType: "config" }, ...manifest.layers]) {
    const answer = await fetch(`http://${host}/v2/${name}/blobs/${blob.digest}`, { headers: basic(auth) });
    if (answer.status !== 200) throw new Error(`GET blob ${blob.digest} of ${name}: HTTP ${answer.status}`);
    const bytes = Buffer.from(await answer.arrayBuffer());
    parts.push((blob.mediaType.includes("gzip") ? gunzipSync(bytes) : bytes).toString("latin1"));
  }
  return parts.join("\n");
}
