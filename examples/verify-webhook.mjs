// Verifies a Dockify webhook (Node 18+, no dependencies). `secret` is your tenant's signing secret;
// `rawBody` the request body exactly as received (a string or Buffer, before any JSON parsing).
import { createHmac, timingSafeEqual } from "node:crypto";

export function verifyDockifyWebhook(secret, signatureHeader, rawBody, toleranceSeconds = 300) {
  const parts = (signatureHeader ?? "").split(",").map((part) => part.split("="));
  const t = parts.find(([key]) => key === "t")?.[1];
  const signatures = parts.filter(([key]) => key === "v1").map(([, value]) => value);
  if (!t || signatures.length === 0) return false;
  // Refuse old deliveries replayed at you.
  if (Math.abs(Date.now() / 1000 - Number(t)) > toleranceSeconds) return false;
  const expected = createHmac("sha256", secret).update(`${t}.${rawBody}`).digest();
  return signatures.some((hex) => {
    const given = Buffer.from(hex, "hex");
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}
