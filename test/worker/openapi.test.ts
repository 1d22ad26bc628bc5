/**
 * The OpenAPI document against the app itself: every route the app mounts is
 * in it with its method, every operation says who may call it and describes
 * its answers, and the shared shapes are components. (The document is checked
 * against the OpenAPI 3.1 schema with a validator in test/e2e/dashboard.test.ts:
 * the validator compiles code at run time, which workerd does not allow.)
 * Then /docs and /dashboard: served by the Worker with their security headers.
 */
import { describe, expect, it } from "vitest";
import app from "../../worker/index";
import { call } from "./helpers";

interface Operation {
  summary?: string;
  security?: unknown[];
  parameters?: { in: string; name: string }[];
  requestBody?: { content: Record<string, unknown> };
  responses: Record<string, { description?: string; content?: Record<string, { schema?: { $ref?: string } }> }>;
}
interface Document {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  webhooks: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
}

async function document(): Promise<Document> {
  const response = await call("/openapi.json");
  expect(response.status).toBe(200);
  return (await response.json()) as Document;
}

/** Hono's `/v1/builds/:id` as OpenAPI writes it: `/v1/builds/{id}`. */
function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z_]+)(\{[^}]*\})?/g, "{$1}");
}

/** The routes the app answers (middleware, registered as ALL, left out), as [method, OpenAPI path]. */
function mountedRoutes(): [string, string][] {
  const routes = app.routes.filter((route) => route.method !== "ALL").map((route) => [route.method.toLowerCase(), openApiPath(route.path)] as [string, string]);
  return [...new Map(routes.map((route) => [route.join(" "), route])).values()];
}

describe("GET /openapi.json", () => {
  it("is OpenAPI 3.1 with every route the app mounts, each with its method", async () => {
    const doc = await document();
    expect(doc.openapi).toBe("3.1.0");
    const mounted = mountedRoutes();
    expect(mounted.length).toBeGreaterThan(10);
    const missing = mounted.filter(([method, path]) => !doc.paths[path]?.[method]).map((route) => route.join(" "));
    expect(missing).toEqual([]);
    // Nothing documented that the app does not answer.
    const documented = Object.entries(doc.paths).flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method} ${path}`));
    expect(documented.sort()).toEqual(mounted.map((route) => route.join(" ")).sort());
  });

  it("says who may call each operation and describes every answer, errors with the one error shape", async () => {
    const doc = await document();
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const where = `${method} ${path}`;
        expect(operation.summary, where).toBeTruthy();
        expect(operation.security, where).toBeDefined();
        for (const [status, response] of Object.entries(operation.responses)) {
          expect(response.description, `${where} ${status}`).toBeTruthy();
          // The seed's GET / answers its own 418 shape, which is not an error.
          if (Number(status) >= 400 && where !== "get /") expect(response.content?.["application/json"]?.schema?.$ref, `${where} ${status}`).toBe("#/components/schemas/Error");
        }
        // Every path parameter is described.
        for (const name of path.match(/\{([^}]+)\}/g) ?? []) {
          expect(operation.parameters?.some((parameter) => parameter.in === "path" && `{${parameter.name}}` === name), `${where} ${name}`).toBe(true);
        }
      }
    }
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(["agentToken", "apiToken", "metricsToken"]);
  });

  it("describes requests and answers with the schemas of shared/api.ts", async () => {
    const doc = await document();
    expect(Object.keys(doc.components.schemas)).toEqual(expect.arrayContaining(["Build", "BuildList", "Error", "SeedAccepted", "SeedStatus", "LogStreamMessage", "WebhookDelivery"]));
    const logs = doc.paths["/v1/builds/{id}/logs"]!.get!;
    expect(Object.keys(logs.responses["200"]!.content!)).toEqual(["text/plain", "text/event-stream"]);
    expect(logs.responses["200"]!.content!["text/event-stream"]!.schema!.$ref).toBe("#/components/schemas/LogStreamMessage");
    expect(logs.parameters!.map((parameter) => `${parameter.in} ${parameter.name}`)).toEqual(
      expect.arrayContaining(["path id", "query follow", "header Last-Event-ID", "header Accept"]),
    );
    const submit = doc.paths["/v1/builds"]!.post!;
    expect(submit.parameters!.filter((parameter) => parameter.in === "query").map((parameter) => parameter.name).sort()).toEqual(
      ["also_push", "build_arg", "dockerfile", "labels", "no_cache", "notify_url", "platform", "registry", "repo", "tag", "target", "upload", "user_name"],
    );
    // Logins and secrets travel in headers only, on both routes.
    for (const operation of [submit, doc.paths["/build"]!.post!]) {
      expect(operation.parameters!.filter((parameter) => parameter.in === "header").map((parameter) => parameter.name)).toEqual(
        expect.arrayContaining(["X-Registry-Password", "X-Registry-Logins", "X-Build-Secrets"]),
      );
    }
    expect(Object.keys(submit.requestBody!.content)).toEqual(["application/x-tar", "application/gzip", "application/x-gzip"]);
    expect(Object.keys(submit.responses)).toEqual(expect.arrayContaining(["404", "408", "409", "411", "413", "415"]));
    // Chunked uploads: the shapes of shared/api.ts, each part's path, digest and answers.
    expect(Object.keys(doc.components.schemas)).toEqual(expect.arrayContaining(["CreateUpload", "Upload", "UploadDetail", "UploadList", "UploadPart"]));
    const create = doc.paths["/v1/uploads"]!.post!;
    expect(create.requestBody!.content["application/json"]).toEqual({ schema: { $ref: "#/components/schemas/CreateUpload" } });
    expect(create.responses["201"]!.content!["application/json"]!.schema!.$ref).toBe("#/components/schemas/UploadDetail");
    const part = doc.paths["/v1/uploads/{id}/parts/{number}"]!.put!;
    expect(part.parameters!.map((parameter) => `${parameter.in} ${parameter.name}`)).toEqual(
      expect.arrayContaining(["path id", "path number", "header Content-Digest"]),
    );
    expect(part.responses["200"]!.content!["application/json"]!.schema!.$ref).toBe("#/components/schemas/UploadPart");
    expect(Object.keys(part.responses)).toEqual(expect.arrayContaining(["400", "404", "408", "409", "411", "413"]));
    expect(doc.paths["/v1/uploads"]!.get!.responses["200"]!.content!["application/json"]!.schema!.$ref).toBe("#/components/schemas/UploadList");
    const seed = doc.paths["/build"]!.post!;
    expect(Object.keys(seed.requestBody!.content)).toEqual(["multipart/form-data"]);
    expect(doc.paths["/"]!.get!.responses["418"]!.content!["application/json"]!.schema!.$ref).toBe("#/components/schemas/Teapot");
    // What the pool POSTs to a notify_url, as an OpenAPI 3.1 webhook, with its signature header.
    const hook = doc.webhooks["build.finished"]!.post!;
    expect(hook.requestBody!.content["application/json"]).toEqual({ schema: { $ref: "#/components/schemas/WebhookEvent" } });
    expect(hook.parameters!.map((parameter) => `${parameter.in} ${parameter.name}`)).toContain("header Dockify-Signature");
    expect(Object.keys(doc.components.schemas)).toContain("WebhookEvent");
  });

  it("the list's query is validated with the schema it is described with", async () => {
    const response = await call("/v1/builds?limit=500", { headers: { Authorization: "Bearer alice-token" } });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ field: "limit" });
    const unknown = await call("/v1/builds?page=2", { headers: { Authorization: "Bearer alice-token" } });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({ field: "page", error: expect.stringContaining("this endpoint takes limit and cursor") });
  });
});

describe("pages", () => {
  it("GET / still points to /docs, which the Worker serves", async () => {
    const root = await call("/");
    expect(root.status).toBe(418);
    expect(await root.json()).toEqual({ message: "Please go to /docs to interect with API" });
    const docs = await call("/docs");
    expect(docs.status).toBe(200);
    expect(docs.headers.get("Content-Type")).toMatch(/^text\/html/);
    const html = await docs.text();
    expect(html).toContain('src="/docs/vendor/swagger-ui-bundle.js"');
    // Nothing from another origin.
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
  });

  it("sends a Content-Security-Policy that allows nothing from elsewhere, and the other security headers", async () => {
    for (const path of ["/docs", "/dashboard", "/docs/docs.js"]) {
      const response = await call(path);
      expect(response.status, path).toBe(200);
      const csp = response.headers.get("Content-Security-Policy") ?? "";
      expect(csp, path).toContain("default-src 'none'");
      expect(csp, path).toContain("script-src 'self'");
      expect(csp, path).toContain("connect-src 'self'");
      expect(csp, path).toContain("frame-ancestors 'none'");
      expect(csp, path).not.toContain("unsafe-eval");
      expect(response.headers.get("X-Content-Type-Options"), path).toBe("nosniff");
      expect(response.headers.get("X-Frame-Options"), path).toBe("DENY");
      await response.body?.cancel();
    }
    expect((await call("/dashboard")).headers.get("Content-Security-Policy")).not.toContain("unsafe-inline");
  });

  it("answers a missing file with the JSON 404, and serves nothing outside the pages", async () => {
    const missing = await call("/docs/nothing.js");
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ field: "file" });
    const outside = await call("/docs/index.html/../../wrangler.toml");
    expect(outside.status).toBe(404);
    await outside.body?.cancel();
  });
});
