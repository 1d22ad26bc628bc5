/**
 * The pages the Worker serves from its static assets (`web/`, wrangler.toml
 * `[assets]`): the API docs at /docs (Swagger UI, bundled, no CDN) and the
 * dashboard at /dashboard. Every request reaches the Worker first
 * (`run_worker_first`), so these answers carry a Content-Security-Policy and
 * the other security headers, and nothing else under the assets is reachable.
 */
import { Hono, type Context } from "hono";
import type { AppEnv } from "../env";
import { errorResponse } from "../errors";
import { pageFileParams } from "../../shared/api";
import { documents, errors, route, SECURITY } from "../openapi/describe";

export const pageRoutes = new Hono<AppEnv>();

/**
 * Scripts and styles only from the Worker itself, nothing framed, nothing sent elsewhere. Swagger UI
 * sets style attributes in its markup, so /docs allows inline styles (never inline scripts).
 */
const CSP = {
  dashboard:
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  docs:
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
} as const;

type Page = keyof typeof CSP;

const SECURITY_HEADERS = {
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
  "Cross-Origin-Opener-Policy": "same-origin",
} as const;

/** The asset at `path` (or the request's own path) with the page's security headers; the usual JSON 404 when there is none. */
async function serve(c: Context<AppEnv>, page: Page, path?: string): Promise<Response> {
  const url = new URL(c.req.url);
  if (path !== undefined) url.pathname = path;
  const asset = await c.env.ASSETS.fetch(new Request(url, { method: c.req.method, headers: c.req.raw.headers }));
  // A fetched response's headers are immutable: copy it to set ours.
  const response = asset.status === 404 ? errorResponse(404, `no file at ${c.req.path}`, "file") : new Response(asset.body, asset);
  response.headers.set("Content-Security-Policy", CSP[page]);
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) response.headers.set(name, value);
  return response;
}

const HTML = { "text/html": { schema: { type: "string" } } } as const;

pageRoutes.get(
  "/docs",
  route({
    tags: ["docs"],
    summary: "This API's documentation (Swagger UI, served by the Worker)",
    security: SECURITY.none,
    responses: { 200: { description: "the page", content: HTML } },
  }),
  (c) => serve(c, "docs", "/docs/index.html"),
);

const FILE_RESPONSES = {
  200: { description: "the file" },
  ...errors({ 404: "no such file" }),
};

for (const path of ["/docs/:file", "/docs/vendor/:file"]) {
  pageRoutes.get(
    path,
    route({
      tags: ["docs"],
      summary: "A script, style or licence of the documentation page (Swagger UI's own under vendor/)",
      security: SECURITY.none,
      responses: FILE_RESPONSES,
    }),
    documents("param", pageFileParams),
    (c) => serve(c, "docs"),
  );
}

pageRoutes.get(
  "/dashboard",
  route({
    tags: ["docs"],
    summary: "The web dashboard (sign in with an API token)",
    security: SECURITY.none,
    responses: { 200: { description: "the page", content: HTML } },
  }),
  (c) => serve(c, "dashboard", "/dashboard/index.html"),
);

pageRoutes.get(
  "/dashboard/:file",
  route({
    tags: ["docs"],
    summary: "A script or style of the dashboard",
    security: SECURITY.none,
    responses: FILE_RESPONSES,
  }),
  documents("param", pageFileParams),
  (c) => serve(c, "dashboard"),
);
