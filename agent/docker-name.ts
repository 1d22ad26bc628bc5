/**
 * The name the Docker Engine files a reference under (distribution/reference's
 * ParseNormalizedNamed, as vendored by Docker 20.10). Two spellings of one
 * local tag, e.g. `index.docker.io/alice/web:latest` and `alice/web:latest`,
 * are one tag to Docker, so they must be one key to whatever guards that tag;
 * and an image a Dockerfile names is looked up at the registry Docker would ask.
 */
import { checkRegistry, checkRepositoryPath, checkTag, DOCKER_HUB } from "../shared/reference";

/** Docker Hub's old name, which Docker rewrites to the default domain. */
const LEGACY_DEFAULT_DOMAIN = "index.docker.io";
/** Hub's one-component names live in this namespace: `web` is `docker.io/library/web`. */
const OFFICIAL_NAMESPACE = "library";
const DEFAULT_TAG = "latest";
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;

/** An image reference as Docker resolves it: registry, repository, and the tag or digest it pulls. */
export interface ImageName {
  /** `docker.io` for Docker Hub, else the registry host as written (`host[:port]`). */
  registry: string;
  /** The repository inside the registry, `library/` spelled out on Hub. */
  path: string;
  /** `latest` when the reference names neither tag nor digest. */
  tag: string | undefined;
  /** A pinned manifest digest; when present it, not the tag, is what gets pulled. */
  digest: string | undefined;
}

/** The registry of a reference's first component: only a host-like one names a registry. */
function splitDomain(name: string): { registry: string; remainder: string } {
  const slash = name.indexOf("/");
  const first = slash === -1 ? "" : name.slice(0, slash);
  if (!/[.:]/.test(first) && first !== "localhost") return { registry: DOCKER_HUB, remainder: name };
  return { registry: first === LEGACY_DEFAULT_DOMAIN ? DOCKER_HUB : first, remainder: name.slice(slash + 1) };
}

/** Parses any reference Docker accepts (`web`, `alice/web:1`, `host:5000/a/b@sha256:…`); throws a readable sentence if it is none. */
export function parseImageName(reference: string): ImageName {
  const at = reference.indexOf("@");
  const named = at === -1 ? reference : reference.slice(0, at);
  const digest = at === -1 ? undefined : reference.slice(at + 1);
  if (digest !== undefined && !DIGEST.test(digest)) throw new Error(`"${reference}" has an invalid digest`);
  const colon = named.lastIndexOf(":");
  const hasTag = colon > named.lastIndexOf("/");
  const name = hasTag ? named.slice(0, colon) : named;
  const tag = hasTag ? named.slice(colon + 1) : undefined;
  const { registry, remainder } = splitDomain(name);
  const path = registry === DOCKER_HUB && !remainder.includes("/") ? `${OFFICIAL_NAMESPACE}/${remainder}` : remainder;
  const problem =
    (registry !== DOCKER_HUB ? checkRegistry(registry) : null) ?? checkRepositoryPath(path) ?? (tag !== undefined ? checkTag(tag) : null);
  if (problem) throw new Error(`"${reference}" is not a valid image reference: ${problem}`);
  return { registry, path, tag: tag ?? (digest ? undefined : DEFAULT_TAG), digest };
}

/** The reference spelled out in full, as Docker names it in its own messages: `docker.io/library/web:latest`. */
export function formatImageName({ registry, path, tag, digest }: ImageName): string {
  return `${registry}/${path}${tag !== undefined ? `:${tag}` : ""}${digest !== undefined ? `@${digest}` : ""}`;
}

/** `reference` with its domain and Hub namespace spelled out, as Docker stores it. */
export function normalizedReference(reference: string): string {
  const { registry, remainder } = splitDomain(reference);
  const path = registry === DOCKER_HUB && !remainder.includes("/") ? `${OFFICIAL_NAMESPACE}/${remainder}` : remainder;
  return `${registry}/${path}`;
}
