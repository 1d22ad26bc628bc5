/** The pool's refusals (uploads.ts) as the API answers them. */
import { ApiError } from "../errors";
import type { Refusal } from "./uploads";

export function refusal({ status, error, field }: Refusal): ApiError {
  return new ApiError(status, error, field);
}
