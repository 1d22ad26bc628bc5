/**
 * Token lists from configuration, checked in constant time. Each configured
 * token is kept only as its SHA-256, so `sha256:<hex>` entries (what production
 * should hold) and plain ones compare the same way.
 */

export interface TokenEntry {
  name: string;
  hash: Uint8Array;
}

const HASHED = /^sha256:([0-9a-f]{64})$/i;

export async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

function fromHex(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g) ?? [], (byte) => parseInt(byte, 16));
}

/** What a token's name may be: also how tenants and agent token names are written in DOCKIFY_POOLS. */
export const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** `name=` before a token; anything else before an `=` is part of the token (base64 padding, say). */
const NAMED = new RegExp(`^(${TOKEN_NAME.source.slice(1, -1)})=([^=].*)$`);

/**
 * Parses `name=token,token2,...`. An entry without a name is named after its
 * token's hash, so reordering the list does not rename anyone.
 */
export async function parseTokens(config: string | undefined): Promise<TokenEntry[]> {
  const entries = (config ?? "").split(",").map((entry) => entry.trim()).filter(Boolean);
  return Promise.all(
    entries.map(async (entry) => {
      const named = NAMED.exec(entry);
      const secret = named ? named[2]! : entry;
      const hashed = HASHED.exec(secret);
      const hash = hashed ? fromHex(hashed[1]!.toLowerCase()) : await sha256(secret);
      return { name: named ? named[1]! : `token-${toHex(hash).slice(0, 8)}`, hash };
    }),
  );
}

/** The names given in a token list (`name=token` entries); nameless entries have none to list. */
export function tokenNames(config: string | undefined): Set<string> {
  const names = (config ?? "").split(",").map((entry) => NAMED.exec(entry.trim())?.[1]);
  return new Set(names.filter((name): name is string => name !== undefined));
}

function toHex(bytes: Uint8Array): string {
  return [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** The entry whose token this is, or null. Looks at every entry so timing does not tell which matched. */
export async function matchToken(entries: TokenEntry[], presented: string): Promise<TokenEntry | null> {
  const hash = await sha256(presented);
  let found: TokenEntry | null = null;
  for (const entry of entries) {
    if (crypto.subtle.timingSafeEqual(entry.hash, hash) && found === null) found = entry;
  }
  return found;
}
