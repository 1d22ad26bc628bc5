/** Types of verify-webhook.mjs, for the TypeScript that imports it (tests). */
export function verifyDockifyWebhook(
  secret: string,
  signatureHeader: string | null | undefined,
  rawBody: string | Buffer,
  toleranceSeconds?: number,
): boolean;
