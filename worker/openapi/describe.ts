/**
 * How a route says what it takes and answers, for the OpenAPI document
 * (hono-openapi reads these from `app.routes`, see document.ts). Every schema
 * is one of shared/api.ts's: a route names the same schema object it validates
 * with, so the document cannot drift from what the Worker checks.
 */
import { describeRoute, resolver, uniqueSymbol, validator, type DescribeRouteOptions } from "hono-openapi";
import type { MiddlewareHandler, ValidationTargets } from "hono";
import type { z } from "zod";
import { errorBody } from "../../shared/api";
import { invalidField } from "../errors";

/** Who may call a route: the scheme names of document.ts. */
export const SECURITY: Record<"api" | "agent" | "metrics" | "none", DescribeRouteOptions["security"]> = {
  api: [{ apiToken: [] }],
  agent: [{ agentToken: [] }],
  metrics: [{ metricsToken: [] }],
  none: [],
};

type Responses = NonNullable<Parameters<typeof describeRoute>[0]["responses"]>;
type Response = Responses[string];

/** A JSON answer shaped by `schema`. */
export function json(schema: z.ZodType, description: string): Response {
  return { description, content: { "application/json": { schema: resolver(schema) } } };
}

/** The error answers a route can give, each with the one error shape (`{error, field}`) and when it happens. */
export function errors(cases: Record<number, string>): Responses {
  return Object.fromEntries(Object.entries(cases).map(([status, description]) => [status, json(errorBody, description)]));
}

/** The answers every API-token route shares. */
export const AUTH_ERRORS = {
  401: "missing or invalid API token",
  503: "the server is not configured (the answer names the variable)",
} as const;

/** Describes a route for the document; the route's own middleware and handler do the work. */
export function route(spec: DescribeRouteOptions): MiddlewareHandler {
  return describeRoute(spec);
}

/**
 * Puts `schema` in the document as the route's `target` (query, header, path, form) without checking
 * anything here: for routes whose reader checks the same schema itself, in an order and with answers
 * (a field given twice, a password in the URL) that a plain validator cannot give.
 */
export function documents(target: keyof ValidationTargets, schema: z.ZodType): MiddlewareHandler {
  const passThrough: MiddlewareHandler = async (_c, next) => {
    await next();
  };
  return Object.assign(passThrough, { [uniqueSymbol]: { target, ...resolver(schema) } });
}

/**
 * Validates the request's `target` with `schema` and describes it; a refusal is the usual 400 naming the
 * field (`accepted` lists what the route takes, for an unknown field). The handler reads `c.req.valid(target)`.
 */
export function validated<T extends z.ZodType, Target extends keyof ValidationTargets>(target: Target, schema: T, accepted: string) {
  return validator(target, schema, (result) => {
    if (!result.success) throw invalidField(result.error[0] as z.core.$ZodIssue, accepted);
  });
}
