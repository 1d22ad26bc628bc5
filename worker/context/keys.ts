/** Where contexts live in R2. */

/** A context sent in the request that submitted its build. */
export function contextKey(jobId: string): string {
  return `contexts/${jobId}.tar`;
}

/** Everything of one chunked upload: its parts, then its checked context. */
export function uploadPrefix(uploadId: string): string {
  return `uploads/${uploadId}/`;
}

export function uploadPartKey(uploadId: string, part: number): string {
  return `${uploadPrefix(uploadId)}parts/${part}`;
}

/** The checked context of a completed upload; the build made from it then owns this object. */
export function uploadContextKey(uploadId: string): string {
  return `${uploadPrefix(uploadId)}context.tar`;
}
