/**
 * Webhook signatures, in the style of Stripe's: the header
 * `Dockify-Signature: t=<unix seconds>,v1=<hex>` where the hex is
 * HMAC-SHA256 under the tenant's secret of `<t>.<the exact body>`. During a
 * secret rotation the header carries one `v1=` per secret, newest first, so a
 * receiver holding either verifies. `t` lets receivers refuse old replays.
 * README ("Webhooks") shows how to verify it; examples/verify-webhook.mjs is
 * that recipe, and the end-to-end test verifies real deliveries with it.
 */

function hex(bytes: ArrayBuffer): string {
  return [...new Uint8Array(bytes)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

export async function hmacHex(secret: string, message: string): Promise<string> {
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return hex(await crypto.subtle.sign("HMAC", key, encoder.encode(message)));
}

/** The signature header's value for `body` sent at `unixSeconds`, signed with each of `secrets`. */
export async function signatureHeader(secrets: readonly string[], body: string, unixSeconds: number): Promise<string> {
  const signatures = await Promise.all(secrets.map((secret) => hmacHex(secret, `${unixSeconds}.${body}`)));
  return [`t=${unixSeconds}`, ...signatures.map((signature) => `v1=${signature}`)].join(",");
}
