/** How a job looks to clients: the seed's status shape, and the fuller v1 shape. */
import { formatReference, imageUrl } from "../shared/reference";
import type { PublicJob } from "./pool/view";

/** The seed's answer to an accepted build: names and sizes of the files, never their contents. */
export function acceptedView(job: PublicJob) {
  return {
    task_id: job.id,
    image_reference: formatReference(job),
    status: "Sent to processing queue",
    data: job.files,
  };
}

export type SeedStatus =
  | { status: "processing"; waiting?: string }
  | { status: "success"; image_url: string; image_reference: string; digest: string | null }
  | { status: "failed"; step: string; error: string };

/** The seed's statuses are a view of the job states. */
export function seedStatus(job: PublicJob): SeedStatus {
  switch (job.state) {
    case "succeeded":
      return { status: "success", image_url: imageUrl(job), image_reference: formatReference(job), digest: job.digest };
    case "failed":
    case "canceled":
      return { status: "failed", step: job.step ?? job.state, error: job.error ?? "the build did not finish" };
    default:
      // Said only when no connected agent could ever take it; a busy pool is plain "processing", as in the seed.
      return job.waiting?.kind === "unmatched" ? { status: "processing", waiting: job.waiting.message } : { status: "processing" };
  }
}

export function buildView(job: PublicJob) {
  return {
    id: job.id,
    state: job.state,
    attempt: job.attempt,
    image_reference: formatReference(job),
    image_url: imageUrl(job),
    digest: job.digest,
    image_id: job.imageId,
    step: job.step,
    error: job.error,
    labels: job.labels,
    waiting: job.waiting?.message ?? null,
    files: job.files,
    created_at: new Date(job.createdAt).toISOString(),
    finished_at: job.finishedAt === null ? null : new Date(job.finishedAt).toISOString(),
  };
}
