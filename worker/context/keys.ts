/** Where contexts live in R2. */

/** A context sent in the request that submitted its build. */
export function contextKey(jobId: string): string {
  return `contexts/${jobId}.tar`;
}

/** Everything of one chunked upload: its parts, then its checked context. */
export function uploadPrefix(uploadId: string): string {
  return `uploads/${uploadId}/`;
}

/**
 * One attempt at sending part `part` (`attempt` is its own UUID): a request whose part is refused removes only its
 * own object, never the one another request stored for the same number.
 */
export function uploadPartKey(uploadId: string, part: number, attempt: string): string {
  return `${uploadPrefix(uploadId)}parts/${part}/${attempt}`;
}

/** The checked context of a completed upload; the build made from it then owns this object. */
export function uploadContextKey(uploadId: string): string {
  return `${uploadPrefix(uploadId)}context.tar`;
}
