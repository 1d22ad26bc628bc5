/**
 * The whole path through real parts: the seed's HTTP contract against
 * `wrangler dev`, the real agent, the real Docker Engine and a registry that
 * demands a login. Images are pulled back and their content checked.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, assert, beforeAll, describe, expect, it } from "vitest";
import { ok, type ApiClient, type SeedBuild, type SeedSuccess } from "../../harness/api";
import { docker, pullImage, pushImage, removeImage, runAndCapture, tagImage } from "../../harness/docker";
import { startStack, type Stack } from "../../harness/stack";

let stack: Stack;
let base: string;
const responses: string[] = [];

beforeAll(async () => {
  stack = await startStack();
  // The base image lives in the login-protected registry, so every build also pulls a private image.
  base = `${stack.registry.host}/base/busybox:1`;
  await tagImage(stack.baseImage, base);
  await pushImage(base, auth());
  await removeImage(base);
});

afterAll(async () => {
  await stack?.stop();
});

function auth() {
  return { username: stack.secrets.registryUser, password: stack.secrets.registryPassword };
}

/** As the stack's tenant unless another client (another token, or none) is given. */
async function submit(build: SeedBuild, api: ApiClient = stack.api) {
  const response = await api.submitSeedBuild(build);
  responses.push(JSON.stringify(response.body));
  return response;
}

const WRONG_PASSWORD = "wrong-pw-recognisable-7f3a9c";

/** Sends the password in the form body, or, as an old client would, in the query string. */
async function build(dockerfile: string, options: { tag: string; password?: string | null; passwordIn?: "form" | "query"; files?: SeedBuild["files"] }) {
  // null: no password at all.
  const password = options.password === null ? undefined : (options.password ?? stack.secrets.registryPassword);
  const inQuery = options.passwordIn === "query";
  const query = {
    user_name: stack.secrets.registryUser,
    repo: "web",
    tag: options.tag,
    registry: stack.registry.host,
    ...(inQuery && password !== undefined ? { password } : {}),
  };
  const response = await submit({ query, dockerfile, files: options.files, fields: inQuery || password === undefined ? {} : { password } });
  const accepted = ok(response, 200);
  const final = await stack.api.waitForStatus(accepted.task_id, { timeoutMs: 120_000 });
  responses.push(JSON.stringify(final));
  return { id: accepted.task_id, final, accepted };
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile());
}

describe("seed contract end to end", () => {
  it("builds with optional files, pushes with the login, and the pulled image holds them", async () => {
    const dockerfile = [
      `FROM ${base}`,
      "COPY app.sh /app/app.sh",
      "COPY index.html /app/index.html",
      "RUN sh /app/app.sh > /app/out.txt",
      "",
    ].join("\n");
    const files = [
      { name: "app.sh", content: "echo built by dockify\n" },
      { name: "index.html", content: "<h1>hello</h1>\n" },
    ];
    const { id, final, accepted } = await build(dockerfile, { tag: "v1", files });
    const reference = `${stack.registry.host}/alice/web:v1`;
    expect(accepted).toMatchObject({
      image_reference: reference,
      status: "Sent to processing queue",
      data: { dockerfile: { filename: "Dockerfile" }, optional_files: { "app.sh": { size: 22 }, "index.html": { size: 15 } } },
    });
    expect(JSON.stringify(accepted)).not.toContain("built by dockify");
    expect(final).toEqual({
      status: "success",
      image_reference: reference,
      image_url: `http://${stack.registry.host}/v2/alice/web/tags/list`,
      digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
      // Its one reference, with the same digest.
      pushed: [{ reference, digest: (final as SeedSuccess).digest }],
    });
    assert(final.status === "success"); // narrows the type; toEqual above has checked it

    // The agent removed its local tag: this pull really comes from the registry.
    await removeImage(reference);
    await pullImage(reference, auth());
    const pulled = await docker.getImage(reference).inspect();
    expect(pulled.RepoDigests).toContain(`${stack.registry.host}/alice/web@${final.digest}`);
    expect(await runAndCapture(reference, ["cat", "/app/out.txt", "/app/index.html"])).toBe("built by dockify\n<h1>hello</h1>\n");
    await removeImage(reference);

    const logText = await stack.api.log(id);
    responses.push(logText);
    // BuildKit's progress, as `docker buildx build --progress=plain` prints it.
    expect(logText).toMatch(/^#\d+ \[4\/4\] RUN sh \/app\/app.sh > \/app\/out.txt$/m);
  });

  it("reports a RUN that exits 1 as failed at step build, with Docker's message", async () => {
    const { final } = await build(`FROM ${base}\nRUN echo about to fail && exit 1\n`, { tag: "run-fails" });
    expect(final).toEqual({ status: "failed", step: "build", error: expect.stringMatching(/exit code: 1$/) });
  });

  it("reports a Dockerfile syntax error as failed at step build", async () => {
    const { final } = await build(`FROM ${base}\nFROBNICATE everything\n`, { tag: "syntax" });
    expect(final).toEqual({ status: "failed", step: "build", error: expect.stringMatching(/unknown instruction: FROBNICATE/i) });
  });

  it("reports a wrong registry password (sent in the query, as old clients do) as failed at step push", async () => {
    // No private base here, so the build itself succeeds and the registry refuses the push.
    const { final } = await build(`FROM scratch\nCOPY app.sh /app.sh\n`, {
      tag: "wrong-password",
      password: WRONG_PASSWORD,
      passwordIn: "query",
      files: [{ name: "app.sh", content: "echo hi\n" }],
    });
    expect(final).toEqual({ status: "failed", step: "push", error: expect.stringMatching(/unauthorized|authentication required/) });
  });

  it("refuses a build FROM the private base without its password, though the agent's Engine already holds that base", async () => {
    // The Engine has the base: pulled as an image here, and by BuildKit for the builds above, with the login.
    await pullImage(base, auth());
    try {
      const digest = (await docker.getImage(base).inspect()).RepoDigests[0]!.split("@")[1]!;
      for (const from of [base, `${stack.registry.host}/base/busybox@${digest}`]) {
        const { final } = await build(`FROM ${from}\nRUN cat /etc/hostname\n`, { tag: "no-login", password: null });
        expect(final).toEqual({
          status: "failed",
          step: "build",
          error: `FROM (line 1): cannot pull ${from}: its registry requires a login and no login (this build has none for ${stack.registry.host})`,
        });
      }
    } finally {
      await removeImage(base);
    }
  });

  it("answers an unknown task id with a 404 JSON error", async () => {
    const response = await stack.api.status("0b6f7c2e-1111-4222-8333-444455556666");
    expect(response.status).toBe(404);
    expect(response.body).toMatchObject({ field: "task_id" });
  });

  it("refuses bad form input and a missing token, and stores nothing", async () => {
    const stored = () => filesUnder(stack.worker.persistDir).length;
    const before = stored();
    const bad = await submit({ query: { user_name: "Alice", repo: "web" }, dockerfile: "FROM scratch\n" });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ field: "user_name" });
    const escaping = await submit({ query: { user_name: "alice", repo: "web" }, dockerfile: "FROM scratch\n", files: [{ name: "../x", content: "x" }] });
    expect(escaping.status).toBe(400);
    expect(escaping.body).toMatchObject({ field: "optional_files" });
    const anonymous = await submit({ query: { user_name: "alice", repo: "web" }, dockerfile: "FROM scratch\n" }, stack.api.withToken(undefined));
    expect(anonymous.status).toBe(401);
    expect(stored()).toBe(before);
  });

  it("never lets a registry password reach a response, a log or storage in plain text", async () => {
    for (const password of [stack.secrets.registryPassword, WRONG_PASSWORD]) {
      expect(responses.join("\n")).not.toContain(password);
      expect(stack.allOutput()).not.toContain(password);
      // The persistence folder holds the R2 objects (contexts, archived logs) and the Durable Object's SQLite.
      for (const file of filesUnder(stack.worker.persistDir)) {
        expect(readFileSync(file).includes(password), file).toBe(false);
      }
    }
  });
});
