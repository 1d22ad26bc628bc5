/**
 * Checks a user's context tarball as it streams through, entry by entry,
 * without extracting or holding it: every path stays inside the context, links
 * point inside it, no device files or FIFOs, a bounded number of entries, and a
 * regular `Dockerfile` at the root. The first problem errors the stream, so the
 * upload it feeds never completes and nothing is stored.
 */
import { extract, type Headers as TarHeaders } from "tar-stream";
import { checkContextPath, DOCKERFILE_PATH } from "../../shared/context-path";
import { ApiError } from "../errors";

/** Paths in a user's tarball (pax headers allow long ones) are still bounded. */
const MAX_ARCHIVE_PATH_BYTES = 4096;
const ALLOWED_TYPES = new Set(["file", "directory", "symlink", "link"]);

function contextError(message: string): ApiError {
  return new ApiError(400, `context: ${message}`, "context");
}

/** `./a/b/` → `a/b`; the archive root itself becomes "". */
function normalize(name: string): string {
  return name.replace(/^(\.\/)+/, "").replace(/\/+$/, "");
}

/** Whether `target`, read from the folder `from`, stays inside the root. */
function staysInside(from: string, target: string): boolean {
  let depth = from === "" ? 0 : from.split("/").length;
  for (const segment of target.split("/")) {
    if (segment === "..") depth -= 1;
    else if (segment !== "." && segment !== "") depth += 1;
    if (depth < 0) return false;
  }
  return true;
}

/** Why this entry may not be in a build context, or null. */
export function entryProblem(header: TarHeaders): string | null {
  const name = normalize(header.name);
  if (name === "" && header.type === "directory") return null;
  const pathProblem = checkContextPath(name, MAX_ARCHIVE_PATH_BYTES);
  if (pathProblem) return `entry ${JSON.stringify(header.name)}: ${pathProblem}`;
  const type = header.type ?? "file";
  if (!ALLOWED_TYPES.has(type)) return `entry ${JSON.stringify(name)} is a ${type}: only files, folders and links may be in a context`;
  const target = header.linkname ?? "";
  if (type === "symlink") {
    if (target.startsWith("/")) return `symlink ${JSON.stringify(name)} points to the absolute path ${JSON.stringify(target)}`;
    const folder = name.includes("/") ? name.slice(0, name.lastIndexOf("/")) : "";
    if (!staysInside(folder, target)) return `symlink ${JSON.stringify(name)} points outside the context (${JSON.stringify(target)})`;
  }
  if (type === "link") {
    const linkProblem = checkContextPath(normalize(target), MAX_ARCHIVE_PATH_BYTES);
    if (linkProblem) return `hard link ${JSON.stringify(name)} points outside the context: ${linkProblem}`;
  }
  return null;
}

export function tarInspector(maxEntries: number): TransformStream<Uint8Array, Uint8Array> {
  const reader = extract();
  let problem: ApiError | null = null;
  let entries = 0;
  let dockerfileFound = false;
  reader.on("entry", (header, body, next) => {
    entries += 1;
    const reason = entries > maxEntries ? `more than ${maxEntries} entries` : entryProblem(header);
    if (reason) problem ??= contextError(reason);
    if (normalize(header.name) === DOCKERFILE_PATH && (header.type ?? "file") === "file") dockerfileFound = true;
    body.on("end", next);
    // A cut-off entry errors its body too; the reader's own error below already says so.
    body.on("error", () => undefined);
    body.resume();
  });
  reader.on("error", (error: Error) => {
    problem ??= contextError(`not a valid tar archive (${error.message})`);
  });
  const finished = new Promise<void>((resolve) => {
    reader.on("finish", () => resolve());
    reader.on("error", () => resolve());
  });
  // An archive that breaks while the reader is full emits "error", never "drain": either ends the wait.
  const drained = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        reader.off("drain", done);
        reader.off("error", done);
        resolve();
      };
      reader.once("drain", done);
      reader.once("error", done);
    });

  return new TransformStream<Uint8Array, Uint8Array>({
    async transform(chunk, controller) {
      if (problem) throw problem;
      if (!reader.write(chunk)) await drained();
      if (problem) throw problem;
      controller.enqueue(chunk);
    },
    async flush() {
      reader.end();
      await finished;
      if (problem) throw problem;
      if (!dockerfileFound) throw contextError(`no regular file named ${DOCKERFILE_PATH} at the root of the archive`);
    },
  });
}
