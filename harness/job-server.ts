/**
 * Stands in for the Worker's agent routes when a test or a bench drives the
 * agent's job runner directly: serves each job's context and Dockerfile only
 * with the agent token and that job's lease token, as `/agent/jobs/{id}/…`
 * does. Also builds the assignments those jobs come in.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { pack } from "tar-stream";
import { assignMessage, LEASE_HEADER, type Assignment } from "../shared/protocol";
import { staticBusybox } from "./docker";
import { LOOPBACK } from "./ports";

export interface ContextFile {
  content: string | Buffer;
  mode?: number;
}

/** The shell applets a Dockerfile FROM scratch gets with `COPY bin/ /bin/`. */
const APPLETS = ["sh", "sleep", "echo", "cat", "head", "tail", "ls", "cp", "mkdir", "wc", "env", "true"];

/** A context tar from in-memory files; `busybox` adds the host's static busybox and its applets under bin/. */
export async function contextTar(files: Record<string, string | Buffer | ContextFile>, options: { busybox?: boolean } = {}): Promise<Buffer> {
  const tar = pack();
  for (const [name, file] of Object.entries(files)) {
    const { content, mode = 0o644 } = typeof file === "string" || Buffer.isBuffer(file) ? { content: file } : file;
    tar.entry({ name, mode, mtime: new Date(0) }, content);
  }
  if (options.busybox) {
    tar.entry({ name: "bin/busybox", mode: 0o755, mtime: new Date(0) }, readFileSync(staticBusybox()));
    for (const applet of APPLETS) tar.entry({ name: `bin/${applet}`, type: "symlink", linkname: "busybox", mtime: new Date(0) });
  }
  tar.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of tar) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

interface Served {
  leaseToken: string;
  body: Buffer;
  type: string;
}

export interface JobServer {
  /** The base URL to give the job runner as `workerUrl`. */
  url: string;
  agentToken: string;
  /**
   * An assignment for a new job whose context is `tar`, with the fields given (image, auth, options, …); the server
   * serves its context, and its Dockerfile at `dockerfilePath` when `serveDockerfile` is set.
   */
  assign(tar: Buffer, fields: Record<string, unknown>, options?: { serveDockerfile?: string; wrongLease?: boolean }): Assignment;
  stop(): Promise<void>;
}

export async function startJobServer(): Promise<JobServer> {
  const agentToken = `agent-${randomBytes(16).toString("hex")}`;
  const served = new Map<string, Served>();
  const server = createServer((request, response) => {
    const found = served.get(request.url ?? "");
    const authorized = request.headers.authorization === `Bearer ${agentToken}` && request.headers[LEASE_HEADER.toLowerCase()] === found?.leaseToken;
    if (!found || !authorized) {
      response.writeHead(403, { "Content-Type": "application/json" });
      response.end(JSON.stringify({ error: "job is not leased to you" }));
      return;
    }
    response.writeHead(200, { "Content-Type": found.type, "Content-Length": found.body.length });
    response.end(found.body);
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const url = `http://${LOOPBACK}:${(server.address() as AddressInfo).port}`;
  return {
    url,
    agentToken,
    assign(tar, fields, options = {}) {
      const jobId = randomUUID();
      const leaseToken = randomBytes(24).toString("hex");
      const served_ = options.wrongLease ? `${leaseToken}-other` : leaseToken;
      const contextPath = `/agent/jobs/${jobId}/context`;
      served.set(contextPath, { leaseToken: served_, body: tar, type: "application/x-tar" });
      let dockerfilePath: string | undefined;
      if (options.serveDockerfile !== undefined) {
        dockerfilePath = `/agent/jobs/${jobId}/dockerfile`;
        served.set(dockerfilePath, { leaseToken: served_, body: Buffer.from(options.serveDockerfile), type: "text/plain" });
      }
      return assignMessage.parse({ type: "assign", jobId, attempt: 1, leaseToken, contextPath, ...(dockerfilePath && { dockerfilePath }), ...fields });
    },
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** An image reference as an assignment names it. */
export function imageName(registry: string, path: string, tag: string): Assignment["image"] {
  return { reference: `${registry}/${path}:${tag}`, registry, path, tag };
}
