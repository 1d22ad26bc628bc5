/**
 * Docker image-reference rules (distribution/reference grammar), shared by the
 * Worker, which validates what users send, and the agent, which names images.
 *
 * Each check returns `null` when the value is valid, or a sentence a user can act on.
 */

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const TAG = /^\w[\w.-]{0,127}$/;
const PORT = /^[0-9]{1,5}$/;
const MAX_PATH_LENGTH = 255;

export const DOCKER_HUB = "docker.io";

/** Docker Hub's other names: BuildKit asks for `registry-1.docker.io`, Docker's own login key is `https://index.docker.io/v1/`. */
const HUB_ALIASES: ReadonlySet<string> = new Set([DOCKER_HUB, "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"]);

/** One spelling per registry host: no scheme, no path, lower case, Hub's aliases as `docker.io`. Logins are keyed by it. */
export function registryKey(address: string): string {
  const host = address
    .trim()
    .replace(/^[a-z]+:\/\//i, "")
    .replace(/\/.*$/, "")
    .toLowerCase();
  return HUB_ALIASES.has(host) ? DOCKER_HUB : host;
}

export function checkPathComponent(value: string): string | null {
  if (value.length === 0) return "must not be empty";
  if (!PATH_COMPONENT.test(value)) {
    return "must be lower-case letters and digits, separated by '.', '_', '__' or '-' (Docker reference grammar)";
  }
  return null;
}

export function checkTag(value: string): string | null {
  if (value.length === 0) return "must not be empty";
  if (value.length > 128) return "must be at most 128 characters";
  if (!TAG.test(value)) return "must start with a letter, digit or '_' and contain only letters, digits, '_', '.' and '-'";
  return null;
}

/** A registry host: `host`, `host:port` or `[ipv6]:port`, with no scheme and no path. */
export function checkRegistry(value: string): string | null {
  if (value.length === 0) return "must not be empty";
  if (value.length > 255) return "must be at most 255 characters";
  if (value.includes("://")) return "must be a host or host:port, without a scheme such as https://";
  if (value.includes("/")) return "must be a host or host:port, without a path";
  const ipv6 = /^\[([0-9a-fA-F:.]+)\](?::(.*))?$/.exec(value);
  let host: string;
  let port: string | undefined;
  if (ipv6) {
    host = ipv6[1]!;
    port = ipv6[2];
    if (!host.includes(":")) return "is not a valid IPv6 address";
  } else {
    const colon = value.lastIndexOf(":");
    host = colon === -1 ? value : value.slice(0, colon);
    port = colon === -1 ? undefined : value.slice(colon + 1);
    if (!host.split(".").every((part) => DOMAIN_COMPONENT.test(part))) {
      return "must be a host name made of letters, digits, '-' and '.' (optionally with :port)";
    }
  }
  if (port !== undefined && (!PORT.test(port) || Number(port) < 1 || Number(port) > 65535)) {
    return "has an invalid port: use a number from 1 to 65535";
  }
  return null;
}

export interface ImageName {
  /** Registry host as the user gave it; `docker.io` for Docker Hub. */
  registry: string;
  /** Repository path inside the registry, e.g. `alice/web`. */
  path: string;
  tag: string;
}

/** Checks the repository path as a whole (components and total length). */
export function checkRepositoryPath(path: string): string | null {
  if (path.length > MAX_PATH_LENGTH) return `must be at most ${MAX_PATH_LENGTH} characters in all`;
  for (const component of path.split("/")) {
    const problem = checkPathComponent(component);
    if (problem) return problem;
  }
  return null;
}

/** The repository as Docker names it: Hub repositories are written without a registry. */
export function formatRepository({ registry, path }: Pick<ImageName, "registry" | "path">): string {
  return registry === DOCKER_HUB ? path : `${registry}/${path}`;
}

/** The full reference Docker uses to tag and push. */
export function formatReference(image: ImageName): string {
  return `${formatRepository(image)}:${image.tag}`;
}

/** The host Docker sends credentials to: for Hub, Docker's own login server key. */
export function authServerAddress(registry: string): string {
  return registry === DOCKER_HUB ? "https://index.docker.io/v1/" : registry;
}

/** The most useful page for a pushed image: Hub's repository page, or the registry's tag list. */
export function imageUrl({ registry, path }: ImageName): string {
  if (registry === DOCKER_HUB) return `https://hub.docker.com/r/${path}`;
  const scheme = isLoopbackHost(registry) ? "http" : "https";
  return `${scheme}://${registry}/v2/${path}/tags/list`;
}

function isLoopbackHost(registry: string): boolean {
  const host = registry.startsWith("[") ? registry.slice(1, registry.indexOf("]")) : registry.split(":")[0]!;
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * A full image reference as Docker reads one: `host[:port]/path[:tag]`, or a Docker Hub `path[:tag]` (the first
 * component is a registry when it has a '.' or a ':', or is `localhost`). No tag means `latest`, as in `docker push`;
 * a digest is refused, since a push names a tag. Returns the image, or a sentence saying what is wrong.
 */
export function parseReference(text: string): { image: ImageName } | { error: string } {
  if (text.includes("@")) return { error: "must name a tag, not a digest (@sha256:…)" };
  const slash = text.indexOf("/");
  const first = slash === -1 ? "" : text.slice(0, slash);
  const hasRegistry = first.includes(".") || first.includes(":") || first === "localhost" || first.startsWith("[");
  const registry = hasRegistry ? first : DOCKER_HUB;
  const rest = hasRegistry ? text.slice(slash + 1) : text;
  const colon = rest.lastIndexOf(":");
  const path = colon === -1 ? rest : rest.slice(0, colon);
  const tag = colon === -1 ? "latest" : rest.slice(colon + 1);
  const problem =
    (hasRegistry && checkRegistry(registry) && `registry ${checkRegistry(registry)}`) ||
    (checkRepositoryPath(path) && `path ${checkRepositoryPath(path)}`) ||
    (checkTag(tag) && `tag ${checkTag(tag)}`);
  return problem ? { error: `'${text}': ${problem}` } : { image: { registry, path, tag } };
}
