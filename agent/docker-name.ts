/**
 * The name the Docker Engine files a reference under (distribution/reference's
 * ParseNormalizedNamed, as vendored by Docker 20.10). Two spellings of one
 * local tag, e.g. `index.docker.io/alice/web:latest` and `alice/web:latest`,
 * are one tag to Docker, so they must be one key to whatever guards that tag.
 */

const DEFAULT_DOMAIN = "docker.io";
/** Docker Hub's old name, which Docker rewrites to the default domain. */
const LEGACY_DEFAULT_DOMAIN = "index.docker.io";
/** Hub's one-component names live in this namespace: `web` is `docker.io/library/web`. */
const OFFICIAL_NAMESPACE = "library";

/** `reference` with its domain and Hub namespace spelled out, as Docker stores it. */
export function normalizedReference(reference: string): string {
  const slash = reference.indexOf("/");
  const first = slash === -1 ? "" : reference.slice(0, slash);
  // Only a first component that looks like a host names a registry; anything else is a path on Docker Hub.
  const hasDomain = /[.:]/.test(first) || first === "localhost";
  const domain = hasDomain && first !== LEGACY_DEFAULT_DOMAIN ? first : DEFAULT_DOMAIN;
  const remainder = hasDomain ? reference.slice(slash + 1) : reference;
  const path = domain === DEFAULT_DOMAIN && !remainder.includes("/") ? `${OFFICIAL_NAMESPACE}/${remainder}` : remainder;
  return `${domain}/${path}`;
}
