/**
 * Asks an image's registry whether a login (or no login) may pull it, the way
 * the Docker Engine would pull it (the Docker Registry HTTP API v2): HEAD the
 * manifest; on a 401, answer the challenge it carries (`Basic`: the login;
 * `Bearer realm=…,service=…,scope=…`: a token from the realm, fetched with the
 * login or anonymously) and ask again. Nothing is downloaded but the answer.
 *
 * Registries grant pulls per repository, so an image that passes here may be
 * pulled by this login under any tag or digest of its repository.
 */
import type { RegistryAuth } from "../../shared/protocol";
import { DOCKER_HUB } from "../../shared/reference";
import { describeError } from "../errors";
import { formatImageName, type ImageName } from "../docker-name";

/** Docker Hub's API lives on another host than its name in references. */
const HUB_API = "registry-1.docker.io";
/** Everything a pull may resolve a tag to: single-platform manifests and multi-platform indexes, Docker's and OCI's. */
const MANIFEST_TYPES = [
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v1+prettyjws",
].join(", ");
/** A registry that answers slower than this is as good as down for a build that waits on it. */
const REQUEST_TIMEOUT_MS = 30_000;
const HTTP_OK = 200;
const HTTP_UNAUTHORIZED = 401;
const HTTP_NOT_FOUND = 404;

/** The image cannot be pulled with the build's credentials; the message says which image and why. */
export class ImageNotPullable extends Error {}

interface Challenge {
  scheme: string;
  params: Map<string, string>;
}

/** `Bearer realm="…",service="…",scope="repository:a/b:pull"` into its scheme and parameters. */
export function parseChallenge(header: string): Challenge | undefined {
  const match = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(header);
  if (!match) return undefined;
  const params = new Map<string, string>();
  for (const param of match[2]!.matchAll(/([A-Za-z]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    params.set(param[1]!.toLowerCase(), (param[2] ?? param[3] ?? "").replace(/\\(.)/g, "$1"));
  }
  return { scheme: match[1]!.toLowerCase(), params };
}

/** Loopback registries speak plain HTTP (the Engine treats 127.0.0.0/8 as insecure by default); every other one HTTPS. */
export function isLoopback(host: string): boolean {
  const name = host.startsWith("[") ? host.slice(1, host.indexOf("]")) : host.replace(/:\d+$/, "");
  return name === "localhost" || name === "::1" || /^127\.\d+\.\d+\.\d+$/.test(name);
}

function registryBase(registry: string): string {
  if (registry === DOCKER_HUB) return `https://${HUB_API}`;
  return `${isLoopback(registry) ? "http" : "https"}://${registry}`;
}

function basic(login: RegistryAuth): string {
  return `Basic ${Buffer.from(`${login.username}:${login.password}`).toString("base64")}`;
}

export interface PullCheck {
  image: ImageName;
  /** The build's login for the image's registry; undefined: it has none, and asks anonymously. */
  login: RegistryAuth | undefined;
  signal: AbortSignal;
}

/** Resolves when `login` may pull `image`; rejects with ImageNotPullable saying why not. */
export async function checkPullable({ image, login, signal }: PullCheck): Promise<void> {
  const name = formatImageName(image);
  const url = `${registryBase(image.registry)}/v2/${image.path}/manifests/${image.digest ?? image.tag}`;
  const whose = login ? `this build's login for ${image.registry}` : `no login (this build has none for ${image.registry})`;
  const request = (authorization: string | undefined) =>
    call(name, url, { method: "HEAD", headers: { Accept: MANIFEST_TYPES, ...(authorization && { Authorization: authorization }) } }, signal);

  let response = await request(undefined);
  if (response.status === HTTP_UNAUTHORIZED) {
    const challenge = parseChallenge(response.headers.get("www-authenticate") ?? "");
    if (challenge?.scheme === "basic") {
      if (!login) throw new ImageNotPullable(`cannot pull ${name}: its registry requires a login and ${whose}`);
      response = await request(basic(login));
    } else if (challenge?.scheme === "bearer") {
      response = await request(`Bearer ${await fetchToken(name, image, challenge, login, signal)}`);
    } else {
      throw new ImageNotPullable(`cannot pull ${name}: its registry asks for an authentication scheme the agent does not know`);
    }
  }
  if (response.status === HTTP_OK) return;
  if (response.status === HTTP_NOT_FOUND) throw new ImageNotPullable(`cannot pull ${name}: its registry has no such image (HTTP 404)`);
  throw new ImageNotPullable(`cannot pull ${name} with ${whose}: the registry answered HTTP ${response.status}`);
}

/** A pull token from the realm the registry named, for the scope it named (or this repository's pull). */
async function fetchToken(name: string, image: ImageName, challenge: Challenge, login: RegistryAuth | undefined, signal: AbortSignal): Promise<string> {
  const realm = challenge.params.get("realm");
  let url: URL;
  try {
    url = new URL(realm ?? "");
  } catch {
    throw new ImageNotPullable(`cannot pull ${name}: its registry names no valid token service (realm ${JSON.stringify(realm ?? "")})`);
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && isLoopback(url.host))) {
    // A login must not travel in clear text to wherever a registry points.
    throw new ImageNotPullable(`cannot pull ${name}: its registry's token service ${url.origin} is not HTTPS`);
  }
  const service = challenge.params.get("service");
  if (service) url.searchParams.set("service", service);
  url.searchParams.set("scope", challenge.params.get("scope") ?? `repository:${image.path}:pull`);
  const response = await call(name, url.toString(), { headers: login ? { Authorization: basic(login) } : {} }, signal);
  if (response.status !== HTTP_OK) {
    const whose = login ? `this build's login for ${image.registry}` : "an anonymous request";
    throw new ImageNotPullable(`cannot pull ${name}: its registry's token service refused ${whose} (HTTP ${response.status})`);
  }
  const body = (await response.json().catch(() => ({}))) as { token?: unknown; access_token?: unknown };
  const token = typeof body.token === "string" ? body.token : typeof body.access_token === "string" ? body.access_token : undefined;
  if (!token) throw new ImageNotPullable(`cannot pull ${name}: its registry's token service gave no token`);
  return token;
}

async function call(name: string, url: string, init: RequestInit, signal: AbortSignal): Promise<Response> {
  try {
    const response = await fetch(url, { ...init, redirect: "follow", signal: AbortSignal.any([signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]) });
    // Only the status and headers matter; a body left unread would hold the connection.
    if (init.method === "HEAD") await response.body?.cancel();
    return response;
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    throw new ImageNotPullable(`cannot pull ${name}: its registry could not be reached (${describeError(error)})`);
  }
}
