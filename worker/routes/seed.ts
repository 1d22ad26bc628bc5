/** The seed service's contract, kept working: POST /build, GET /status/{task_id}, GET /. */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { DOCKERFILE_PATH } from "../../shared/context-path";
import { requireApiToken } from "../auth";
import { readBuildRequest, type BuildRequest } from "../build-request";
import { deleteContext, storeContext } from "../contexts";
import { settings, type AppEnv } from "../env";
import { errorResponse } from "../errors";
import { poolStub } from "../pool/stub";
import type { FilesSummary } from "../pool/store";
import { seal } from "../secrets";
import type { TarEntry } from "../tar";
import { findJob } from "./find-job";
import { acceptedView, seedStatus } from "../views";

const FILE_MODE = 0o644;

function contextEntries({ dockerfile, files }: BuildRequest): TarEntry[] {
  return [
    { name: DOCKERFILE_PATH, size: dockerfile.size, mode: FILE_MODE, body: () => dockerfile.stream() },
    ...files.map(({ name, file }) => ({ name, size: file.size, mode: FILE_MODE, body: () => file.stream() })),
  ];
}

function filesSummary({ dockerfile, files }: BuildRequest): FilesSummary {
  return {
    dockerfile: { filename: dockerfile.name, size: dockerfile.size },
    optional_files: Object.fromEntries(files.map(({ name, file }) => [name, { size: file.size }])),
  };
}

export const seedRoutes = new Hono<AppEnv>();

seedRoutes.get("/", (c) => c.json({ message: "Please go to /docs to interect with API" }, 418));

seedRoutes.post(
  "/build",
  requireApiToken,
  (c, next) => {
    const maxSize = settings(c.env).maxRequestBytes;
    const onError = () => errorResponse(413, `the request body must be at most ${maxSize} bytes`, "body");
    return bodyLimit({ maxSize, onError })(c, next);
  },
  async (c) => {
    const build = await readBuildRequest(c.req.raw, settings(c.env));
    const tenant = c.get("tenant");
    const pool = poolStub(c.env);
    // A retry of a build already accepted answers with that build, before anything is stored again.
    const retried = build.idempotencyKey ? await pool.findByIdempotencyKey(tenant, build.idempotencyKey) : null;
    if (retried) return c.json(acceptedView(retried));

    const jobId = crypto.randomUUID();
    const sealedPassword = build.password ? await seal(c.env.DOCKIFY_SECRET_KEY, jobId, build.password) : null;
    await storeContext(c.env.BUCKET, jobId, contextEntries(build));
    try {
      const { job, created } = await pool.enqueue({
        id: jobId,
        tenant,
        ...build.image,
        userName: build.userName,
        labels: build.labels,
        sealedPassword,
        files: filesSummary(build),
        idempotencyKey: build.idempotencyKey,
      });
      // Lost a race with a concurrent retry under the same key: that build stands, this upload goes.
      if (!created) await deleteContext(c.env.BUCKET, jobId);
      return c.json(acceptedView(job));
    } catch (error) {
      // Never leave half a job behind: no queue entry means no stored context either.
      await deleteContext(c.env.BUCKET, jobId);
      throw error;
    }
  },
);

seedRoutes.get("/status/:task_id", requireApiToken, async (c) => {
  const job = await findJob(c.env, c.get("tenant"), c.req.param("task_id"));
  return c.json(seedStatus(job));
});
