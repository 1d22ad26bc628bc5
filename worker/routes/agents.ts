/** What agents call: the WebSocket to the pool, the context of a job they hold, and a ping that checks without connecting. */
import { Hono } from "hono";
import { buildIdParams } from "../../shared/api";
import { parseLabels } from "../../shared/labels";
import { agentPing, agentPingQuery, contextDownloadHeaders, LEASE_HEADER, type AgentPing } from "../../shared/protocol";
import { agentVersionRefusal } from "../agent-version";
import { requireAgentToken } from "../auth";
import { readDockerfile, type DockerfileRead } from "../context/dockerfile";
import { openContext } from "../context/store";
import type { AppEnv } from "../env";
import { ApiError } from "../errors";
import { fleet } from "../fleet";
import { settings } from "../settings";
import { documents, errors, json, route, SECURITY } from "../openapi/describe";
import { AGENT_TOKEN_NAME_HEADER } from "../pool/sockets";
import { agentPoolStub } from "../pool/stub";

export const agentRoutes = new Hono<AppEnv>();

agentRoutes.use(requireAgentToken);

const AGENT_AUTH = { 401: "missing or invalid agent token", 503: "the server is not configured (the answer names the variable)" } as const;

agentRoutes.get(
  "/connect",
  route({
    tags: ["agents"],
    summary: "An agent's WebSocket to its pool (messages: shared/protocol.ts)",
    security: SECURITY.agent,
    responses: {
      101: { description: "switching protocols: the agent's socket" },
      ...errors({ ...AGENT_AUTH, 426: "not a WebSocket upgrade" }),
    },
  }),
  (c) => {
    const upgrade = new Request(c.req.raw);
    upgrade.headers.set(AGENT_TOKEN_NAME_HEADER, c.get("agentTokenName"));
    return agentPoolStub(c.env, c.get("agentTokenName")).fetch(upgrade);
  },
);

agentRoutes.get(
  "/jobs/:id/context",
  route({
    tags: ["agents"],
    summary: "The build context of a job the agent holds under its current lease",
    security: SECURITY.agent,
    responses: {
      200: { description: "the context", content: { "application/x-tar": { schema: { type: "string", contentMediaType: "application/x-tar" } } } },
      ...errors({ ...AGENT_AUTH, 403: "the job is not leased to this agent", 404: "the job's context is gone" }),
    },
  }),
  documents("param", buildIdParams),
  documents("header", contextDownloadHeaders),
  async (c) => {
    const id = c.req.param("id");
    const leaseToken = c.req.header(LEASE_HEADER) ?? "";
    const key = await agentPoolStub(c.env, c.get("agentTokenName")).contextFor(id, leaseToken);
    if (key === null) {
      throw new ApiError(403, `job '${id}' is not leased to you: send the lease token of its current assignment`, LEASE_HEADER);
    }
    const context = await openContext(c.env.BUCKET, key);
    if (!context) throw new ApiError(404, `the context of job '${id}' is gone`, "id");
    return new Response(context.body, {
      headers: { "Content-Type": "application/x-tar", "Content-Length": String(context.size) },
    });
  },
);

/** Why the Dockerfile cannot be served, as the answer the agent shows in the build's failure. */
function dockerfileRefusal(problem: Exclude<DockerfileRead, { text: string }>["problem"], id: string, path: string, max: number): ApiError {
  switch (problem) {
    case "gone":
      return new ApiError(404, `the context of job '${id}' is gone`, "id");
    case "missing":
      return new ApiError(404, `the build context has no ${path}`, "id");
    case "not-a-file":
      return new ApiError(422, `${path} in the build context is not a regular file`, "id");
    case "too-large":
      return new ApiError(413, `${path} in the build context is larger than ${max} bytes (DOCKIFY_MAX_DOCKERFILE_BYTES)`, "id");
  }
}

agentRoutes.get(
  "/jobs/:id/dockerfile",
  route({
    tags: ["agents"],
    summary: "The Dockerfile of a job the agent holds under its current lease, read out of its context (the agent checks the images it names)",
    security: SECURITY.agent,
    responses: {
      200: { description: "the Dockerfile", content: { "text/plain": { schema: { type: "string" } } } },
      ...errors({
        ...AGENT_AUTH,
        403: "the job is not leased to this agent",
        404: "the job's context is gone, or holds no file at the build's Dockerfile path",
        413: "the Dockerfile is larger than DOCKIFY_MAX_DOCKERFILE_BYTES",
        422: "the Dockerfile path is not a regular file in the context",
      }),
    },
  }),
  documents("param", buildIdParams),
  documents("header", contextDownloadHeaders),
  async (c) => {
    const id = c.req.param("id");
    const pool = agentPoolStub(c.env, c.get("agentTokenName"));
    const leased = await pool.dockerfileFor(id, c.req.header(LEASE_HEADER) ?? "");
    if (leased === null) {
      throw new ApiError(403, `job '${id}' is not leased to you: send the lease token of its current assignment`, LEASE_HEADER);
    }
    const max = settings(c.env).maxDockerfileBytes;
    const read = await readDockerfile(c.env.BUCKET, leased.contextKey, leased.dockerfile, max);
    if ("text" in read) return c.text(read.text);
    throw dockerfileRefusal(read.problem, id, leased.dockerfile, max);
  },
);

/**
 * Whether this Worker would take an agent with this token, version and labels, answered by the Worker alone: no
 * pool hears of it, so a ping can never be given a job (`dockify-agent doctor`). Refusals are the pool's own
 * sentences: 426 for the version, 403 for labels.
 */
agentRoutes.get(
  "/ping",
  route({
    tags: ["agents"],
    summary: "Whether the Worker would take an agent with this token, version and labels (no pool hears of it)",
    security: SECURITY.agent,
    responses: {
      200: json(agentPing, "it would: the pool the token joins, and the oldest agent version taken"),
      ...errors({ ...AGENT_AUTH, 400: "labels are malformed", 403: "a label the token is not granted", 426: "the version is older than DOCKIFY_MIN_AGENT_VERSION" }),
    },
  }),
  documents("query", agentPingQuery),
  (c) => {
    const tokenName = c.get("agentTokenName");
    const minimum = settings(c.env).minAgentVersion;
    const version = c.req.query("version");
    const outdated = version === undefined ? null : agentVersionRefusal(version, minimum);
    if (outdated) throw new ApiError(426, outdated, "version");
    const labelsText = c.req.query("labels");
    if (labelsText !== undefined) {
      const parsed = parseLabels(labelsText);
      if ("error" in parsed) throw new ApiError(400, `labels: ${parsed.error}`, "labels");
      const forbidden = fleet(c.env).forbiddenAgentLabel(parsed.labels, tokenName);
      if (forbidden) throw new ApiError(403, forbidden, "labels");
    }
    const ping: AgentPing = { pool: fleet(c.env).agentPool(tokenName), min_agent_version: minimum };
    return c.json(ping);
  },
);
