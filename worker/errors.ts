/** The one JSON error shape every endpoint answers with: `{ error, field? }`. */
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";

export class ApiError extends HTTPException {
  constructor(status: ContentfulStatusCode, error: string, field?: string, extra: Record<string, unknown> = {}) {
    super(status, { res: errorResponse(status, error, field, extra) });
  }
}

export function errorResponse(
  status: number,
  error: string,
  field?: string,
  extra: Record<string, unknown> = {},
): Response {
  const body = field === undefined ? { error, ...extra } : { error, field, ...extra };
  return Response.json(body, { status });
}
