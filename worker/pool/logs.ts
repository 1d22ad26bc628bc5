/** Where a finished job's log is archived in R2. */
export function logKey(jobId: string): string {
  return `logs/${jobId}.log`;
}
