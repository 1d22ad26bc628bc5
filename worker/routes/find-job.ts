/** Looks a job up for a tenant; another tenant's job is as unknown as a made-up id. */
import type { Env } from "../env";
import { ApiError } from "../errors";
import { poolStub } from "../pool/stub";
import type { PublicJob } from "../pool/view";

const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export async function findJob(env: Env, tenant: string, id: string): Promise<PublicJob> {
  const job = JOB_ID.test(id) ? await poolStub(env).describe(id, tenant) : null;
  if (!job) throw new ApiError(404, `no build with id '${id}'`, "task_id");
  return job;
}
