/**
 * Registry passwords, logins and build secrets at rest: AES-GCM with a key derived from DOCKIFY_SECRET_KEY.
 * The job id is bound as additional data, so a sealed value copied to another
 * job's row does not open.
 */

const MIN_SECRET_KEY_LENGTH = 32;
const IV_BYTES = 12;

export class MissingSecretKeyError extends Error {
  constructor() {
    super(`DOCKIFY_SECRET_KEY must be set to at least ${MIN_SECRET_KEY_LENGTH} characters`);
  }
}

async function importKey(secretKey: string | undefined, usage: "encrypt" | "decrypt") {
  if (!secretKey || secretKey.length < MIN_SECRET_KEY_LENGTH) throw new MissingSecretKeyError();
  const material = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(secretKey));
  return crypto.subtle.importKey("raw", material, "AES-GCM", false, [usage]);
}

export async function seal(secretKey: string | undefined, jobId: string, plaintext: string): Promise<ArrayBuffer> {
  const key = await importKey(secretKey, "encrypt");
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const additionalData = new TextEncoder().encode(jobId);
  const ciphertext = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData }, key, new TextEncoder().encode(plaintext));
  const sealed = new Uint8Array(IV_BYTES + ciphertext.byteLength);
  sealed.set(iv);
  sealed.set(new Uint8Array(ciphertext), IV_BYTES);
  return sealed.buffer;
}

export class UnreadableSecretError extends Error {
  constructor() {
    super("the build's registry password, logins or build secrets could not be decrypted with DOCKIFY_SECRET_KEY or DOCKIFY_SECRET_KEY_PREVIOUS");
  }
}

/**
 * Opens a sealed value with the current key, or with the previous one during a
 * rotation (values sealed before it still open until their jobs end).
 */
export async function open(secretKeys: readonly (string | undefined)[], jobId: string, sealed: ArrayBuffer): Promise<string> {
  const bytes = new Uint8Array(sealed);
  const additionalData = new TextEncoder().encode(jobId);
  for (const secretKey of secretKeys.filter(Boolean)) {
    const key = await importKey(secretKey, "decrypt");
    try {
      const plaintext = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: bytes.subarray(0, IV_BYTES), additionalData },
        key,
        bytes.subarray(IV_BYTES),
      );
      return new TextDecoder().decode(plaintext);
    } catch {
      // Sealed under another key: try the next one.
    }
  }
  throw new UnreadableSecretError();
}
