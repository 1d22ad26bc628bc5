/**
 * The Dockerfile a job's build will use, read before the Engine sees the build
 * so the images it names can be checked first. A pool that sends
 * `dockerfilePath` serves it on its own; with one too old to, the agent reads
 * it out of the job's context (one extra download of the context, streamed
 * through and dropped: nothing but the Dockerfile is kept), so no build ever
 * skips the check.
 */
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { extract } from "tar-stream";
import { formatByteSize } from "../../shared/byte-size";
import { openJobDownload, type JobDownload } from "../context";

/** Far above any real Dockerfile (the Worker's own limit is 1 MiB by default), and small enough to hold. */
export const MAX_DOCKERFILE_BYTES = 4 * 1024 ** 2;
const GZIP_MAGIC = [0x1f, 0x8b];

type Download = Omit<JobDownload, "path">;

function tooLarge(): Error {
  return new Error(`the Dockerfile is larger than ${formatByteSize(MAX_DOCKERFILE_BYTES)}: the agent cannot check the images it names`);
}

async function readCapped(stream: AsyncIterable<Buffer | Uint8Array>): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of stream) {
    bytes += chunk.length;
    if (bytes > MAX_DOCKERFILE_BYTES) throw tooLarge();
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** The Dockerfile as the pool serves it at `dockerfilePath`. */
export async function downloadDockerfile(download: Download, dockerfilePath: string): Promise<string> {
  const body = await openJobDownload({ ...download, path: dockerfilePath });
  try {
    return await readCapped(body);
  } finally {
    body.destroy();
  }
}

/** A tar entry's name as a path inside the context: `./a//b` is `a/b`. */
function contextName(name: string): string {
  return name
    .split("/")
    .filter((part) => part !== "" && part !== ".")
    .join("/");
}

/** The body again, whole, after a look at its first chunk. */
async function* withFirst(first: Buffer | undefined, rest: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  if (first) yield first;
  for (let next = await rest.next(); !next.done; next = await rest.next()) yield next.value;
}

/**
 * The file at `dockerfile` (a path inside the context) out of the context tar. The last entry of that name wins, as
 * when Docker unpacks the tar; one that is not a regular file is refused, since what it leads to is not what was read.
 */
export async function dockerfileFromContext(download: Download, contextPath: string, dockerfile: string): Promise<string> {
  const wanted = contextName(dockerfile);
  const body = await openJobDownload({ ...download, path: contextPath });
  const tar = extract();
  let found: { text: string } | { type: string } | undefined;
  tar.on("entry", (header, stream, next) => {
    const isIt = contextName(header.name) === wanted;
    if (!isIt) {
      stream.on("end", next).resume();
      return;
    }
    if (header.type !== "file") {
      found = { type: header.type ?? "unknown" };
      stream.on("end", next).resume();
      return;
    }
    readCapped(stream).then((text) => {
      found = { text };
      next();
    }, next);
  });
  try {
    const chunks = (body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    const first = await chunks.next();
    const bytes = Readable.from(withFirst(first.done ? undefined : first.value, chunks));
    // The Engine takes a gzipped context as well as a plain tar.
    const gzipped = !first.done && first.value[0] === GZIP_MAGIC[0] && first.value[1] === GZIP_MAGIC[1];
    await (gzipped ? pipeline(bytes, createGunzip(), tar) : pipeline(bytes, tar));
  } finally {
    body.destroy();
  }
  if (!found) throw new Error(`the build context has no ${wanted}`);
  if ("type" in found) throw new Error(`${wanted} in the build context is a ${found.type}, not a regular file`);
  return found.text;
}
