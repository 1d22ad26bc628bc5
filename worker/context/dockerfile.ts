/**
 * A job's Dockerfile, read out of its stored context for the agent, which
 * checks every image it names before the build (agent/images/). Only the file
 * leaves the Worker, not the whole context a second time. A stored context was
 * re-packed from checked entries (store.ts), so a path is in it once, named as
 * Docker will name it: the entry found is the file the Engine builds.
 */
import { readTar } from "../../shared/tar/reader";
import { openContext } from "./store";

export type DockerfileRead =
  | { text: string }
  /** No context stored (the build is over), no entry at the path, not a regular file there, or too large. */
  | { problem: "gone" | "missing" | "not-a-file" | "too-large" };

/** `./a//b` → `a/b`, as paths in a context are compared. */
function contextName(name: string): string {
  return name
    .split("/")
    .filter((part) => part !== "" && part !== ".")
    .join("/");
}

async function text(data: AsyncIterable<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let result = "";
  for await (const chunk of data) result += decoder.decode(chunk, { stream: true });
  return result + decoder.decode();
}

export async function readDockerfile(bucket: R2Bucket, contextKey: string, path: string, maxBytes: number): Promise<DockerfileRead> {
  const context = await openContext(bucket, contextKey);
  if (!context) return { problem: "gone" };
  const wanted = contextName(path);
  try {
    for await (const { entry, data } of readTar(context.body)) {
      if (contextName(entry.name) !== wanted) continue;
      if (entry.type !== "file") return { problem: "not-a-file" };
      if (entry.size > maxBytes) return { problem: "too-large" };
      return { text: await text(data) };
    }
    return { problem: "missing" };
  } finally {
    // Whatever follows the Dockerfile is not needed.
    await context.body.cancel().catch(() => undefined);
  }
}
