/** One readable sentence for any thrown value, with the cause that fetch and sockets hide behind a generic message. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : error.message;
}
