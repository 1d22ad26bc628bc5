/** The one JSON error shape every endpoint answers with: `{ error, field? }`. */
import { HTTPException } from "hono/http-exception";
import type { ErrorBody } from "../shared/api";
import type { z } from "zod";
import type { ContentfulStatusCode } from "hono/utils/http-status";

export class ApiError extends HTTPException {
  constructor(status: ContentfulStatusCode, error: string, field?: string, extra: Omit<ErrorBody, "error" | "field"> = {}) {
    super(status, { res: errorResponse(status, error, field, extra) });
  }
}

export function errorResponse(
  status: number,
  error: string,
  field?: string,
  extra: Omit<ErrorBody, "error" | "field"> = {},
): Response {
  const body: ErrorBody = field === undefined ? { error, ...extra } : { error, field, ...extra };
  return Response.json(body, { status });
}

/** A 400 for the first problem zod found, naming the field; `accepted` lists what the endpoint takes. */
export function invalidField(issue: z.core.$ZodIssue, accepted: string): ApiError {
  if (issue.code === "unrecognized_keys") {
    const field = issue.keys[0]!;
    return new ApiError(400, `unknown field '${field}': this endpoint takes ${accepted}`, field);
  }
  const field = String(issue.path[0] ?? "body");
  const message = issue.code === "invalid_type" && issue.input === undefined ? "is required" : issue.message;
  return new ApiError(400, `${field} ${message}`, field);
}

/** The 404 for a build id that is unknown, or another tenant's (indistinguishable on purpose); `field` is the route's name for it. */
export function unknownBuild(id: string, field: "id" | "task_id"): ApiError {
  return new ApiError(404, `no build with id '${id}'`, field);
}
