/**
 * RFC 9530 `Content-Digest` with SHA-256, as each upload part carries it:
 * `Content-Digest: sha-256=:<base64 of the 32-byte digest>:`. Other
 * algorithms in the same header are ignored; SHA-256 must be among them.
 */

const SHA256_MEMBER = /^sha-256=:([A-Za-z0-9+/]{43}=):$/i;

/** The base64 SHA-256 the header states, or null when it states none (or not in this form). */
export function parseContentDigest(header: string): string | null {
  for (const member of header.split(",")) {
    const match = SHA256_MEMBER.exec(member.trim());
    if (match) return match[1]!;
  }
  return null;
}

/** The header value for a SHA-256 digest given in base64. */
export function contentDigest(sha256Base64: string): string {
  return `sha-256=:${sha256Base64}:`;
}
