/** The pool's refusals (pool/uploads.ts) as the API answers them: the pool says why, the Worker answers. */
import { ApiError } from "../errors";
import type { Refusal } from "../pool/uploads";

export function refusal({ status, error, field }: Refusal): ApiError {
  return new ApiError(status, error, field);
}
