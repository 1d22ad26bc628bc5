/**
 * The two sides of the build figures: a build done directly with the
 * Engine's BuildKit (through its API with a session answering the registry
 * login, which is what `DOCKER_BUILDKIT=1 docker build` does) and pushed, and
 * the same build through Dockify from `POST /build` to status `success`. Both
 * on the same Engine and registry; the times are each side's whole path.
 */
import { Readable } from "node:stream";
import { ok } from "../harness/api";
import { docker, pushImage, readJsonStream, removeImage } from "../harness/docker";
import { contextTar } from "../harness/job-server";
import type { Stack } from "../harness/stack";
import { BuildSession } from "../agent/builders/buildkit/session";
import { Logins } from "../agent/logins";

export type Files = { Dockerfile: string } & Record<string, string>;

const auth = (stack: Stack) => ({ username: stack.secrets.registryUser, password: stack.secrets.registryPassword });

/** BuildKit through the Engine API, then a push; ms from sending the context to the push's end. The image is removed afterwards. */
export async function direct(stack: Stack, tag: string, files: Files): Promise<number> {
  const tar = await contextTar(files);
  return directTar(stack, tag, () => Readable.from([tar]));
}

/** As `direct`, with the context as a tar stream (a file too large to hold in memory); `context` is called once, when the clock starts. */
export async function directTar(stack: Stack, tag: string, context: () => NodeJS.ReadableStream, repo = "direct"): Promise<number> {
  const reference = `${stack.registry.host}/${stack.secrets.registryUser}/${repo}:${tag}`;
  const started = performance.now();
  const session = await BuildSession.open(
    docker,
    { logins: new Logins([{ ...auth(stack), serveraddress: stack.registry.host }]), secrets: new Map() },
    new AbortController().signal,
  );
  try {
    const stream = await new Promise<NodeJS.ReadableStream>((resolve, reject) =>
      docker.modem.dial(
        {
          path: "/build?",
          method: "POST",
          file: context(),
          options: { version: "2", session: session.id, t: reference },
          isStream: true,
          statusCodes: { 200: true, 500: "server error" },
        },
        (error: unknown, response: unknown) => (error ? reject(error) : resolve(response as NodeJS.ReadableStream)),
      ),
    );
    await readJsonStream(stream, `BuildKit build of ${reference}`);
  } finally {
    session.close();
  }
  await pushImage(reference, auth(stack));
  const elapsed = performance.now() - started;
  await removeImage(reference);
  return elapsed;
}

/** `POST /build` (the seed's form) until `GET /status` says `success`, polled every 10 ms; ms. */
export async function viaDockify(stack: Stack, tag: string, { Dockerfile, ...files }: Files): Promise<number> {
  const started = performance.now();
  const accepted = await stack.api.submitSeedBuild({
    query: { user_name: stack.secrets.registryUser, repo: "dockify", tag, registry: stack.registry.host },
    fields: { password: stack.secrets.registryPassword },
    dockerfile: Dockerfile,
    files: Object.entries(files).map(([name, content]) => ({ name, content })),
  });
  const id = ok(accepted, 200).task_id;
  // Every 10 ms, so the figure is not rounded up to a coarse polling step.
  const final = await stack.api.waitForStatus(id, { intervalMs: 10 });
  const elapsed = performance.now() - started;
  if (final.status !== "success") throw new Error(`build ${id} ended ${JSON.stringify(final)}`);
  return elapsed;
}

/** Runs the pair in alternating order (so neither side always runs on a warmer machine) and adds each time to its list. */
export async function alternate(round: number, pair: { direct: () => Promise<number>; dockify: () => Promise<number> }, into: { direct: number[]; dockify: number[] }): Promise<void> {
  const order = round % 2 ? (["dockify", "direct"] as const) : (["direct", "dockify"] as const);
  for (const side of order) into[side].push(await pair[side]());
}
