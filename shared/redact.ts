/** Replaces every occurrence of each secret with `***` before text leaves our hands. */
export const REDACTED = "***";

export function redact(text: string, secrets: readonly (string | undefined)[]): string {
  let result = text;
  for (const secret of secrets) {
    if (secret) result = result.split(secret).join(REDACTED);
  }
  return result;
}
