/**
 * A build folder as the context Dockify builds: walked in Docker's order,
 * filtered by Docker's ignore rules (ignore.ts), written as a tar as the
 * Docker CLI writes one (owner root, permission bits and times kept, symlinks
 * as symlinks, never followed) and gzip-compressed into a temporary file.
 *
 * The file, not memory, holds the result: a context of gigabytes costs the
 * CLI a few buffers, its size is known before the upload starts (the Worker
 * wants a Content-Length), and a part of a chunked upload can be read again
 * to retry it. The same folder packs into the same bytes (the walk's order,
 * the headers and gzip's are all fixed), which is what lets a later run
 * resume a chunked upload.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, mkdtempSync, rmSync, type Stats } from "node:fs";
import { lstat, readdir, readlink, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { pack, type Headers, type Pack } from "tar-stream";
import { CliError } from "../errors";
import { contextFilter } from "./ignore";

export const DEFAULT_DOCKERFILE = "Dockerfile";

export interface PackOptions {
  /** The build folder. */
  dir: string;
  /** `-f`: the Dockerfile's path as the user gave it (relative to the working directory, as `docker build -f` reads it); default DIR/Dockerfile. */
  dockerfile?: string;
  /** Told of each entry skipped, with the reason. */
  onSkip?: (path: string, reason: string) => void;
}

export interface PackedContext {
  /** The gzip-compressed tar. Remove it with `dispose()`. */
  file: string;
  /** Its size: what is uploaded. */
  bytes: number;
  /** The tar's size before compression. */
  tarBytes: number;
  /** Files, folders and symlinks in it. */
  entries: number;
  /** The Dockerfile's path inside the context (what the build names as `dockerfile`). */
  dockerfile: string;
  /** The ignore file that applied, relative to the folder, or null. */
  ignoreFile: string | null;
  dispose(): void;
}

/** A path inside the context as tar and the matcher spell it. */
function contextPath(from: string, to: string): string {
  return relative(from, to).split(sep).join("/");
}

function isInside(parent: string, child: string): boolean {
  const path = relative(parent, child);
  return path !== "" && !path.startsWith("..") && !isAbsolute(path);
}

function header(name: string, stats: Stats, fields: Partial<Headers>): Headers {
  // Owned by root as the Docker CLI sends contexts (ChownOpts 0:0): the builder's COPY gives files root unless told otherwise.
  return { name, mode: stats.mode & 0o7777, mtime: stats.mtime, uid: 0, gid: 0, uname: "", gname: "", ...fields };
}

function addEntry(tar: Pack, headers: Headers, content?: Buffer): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    tar.entry(headers, content, (error) => (error ? reject(error) : resolvePromise()));
  });
}

async function addFile(tar: Pack, path: string, name: string, stats: Stats): Promise<void> {
  const entry = tar.entry(header(name, stats, { type: "file", size: stats.size }));
  // A file that changes size while it is read makes tar-stream fail the entry: the context would not be what was read.
  await pipeline(createReadStream(path), entry);
}

/** Counts the bytes that pass. */
function counter(): Transform & { bytes: number } {
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      stream.bytes += chunk.length;
      callback(null, chunk);
    },
  }) as Transform & { bytes: number };
  stream.bytes = 0;
  return stream;
}

/** Resolves `-f` as `docker build` does: relative to the working directory; by default DIR/Dockerfile. */
function locateDockerfile(dir: string, given: string | undefined): { path: string; inContext: string | null } {
  const path = given === undefined ? join(dir, DEFAULT_DOCKERFILE) : resolve(given);
  return { path, inContext: isInside(dir, path) ? contextPath(dir, path) : null };
}

export async function packContext(options: PackOptions): Promise<PackedContext> {
  const dir = resolve(options.dir);
  const dirStats = await lstat(dir).catch(() => null);
  if (!dirStats?.isDirectory()) throw new CliError(`${options.dir}: not a folder (the build context must be one)`);
  const dockerfile = locateDockerfile(dir, options.dockerfile);
  const dockerfileStats = await lstat(dockerfile.path).catch(() => null);
  if (!dockerfileStats?.isFile()) {
    throw new CliError(`no Dockerfile at ${dockerfile.path}${options.dockerfile === undefined ? " (name another with -f PATH)" : ""}`);
  }
  const filter = contextFilter(dir, dockerfile.inContext);

  const tempDir = mkdtempSync(join(tmpdir(), "dockify-context-"));
  const dispose = () => rmSync(tempDir, { recursive: true, force: true });
  const file = join(tempDir, "context.tar.gz");
  const tar = pack();
  const tarBytes = counter();
  const gzip = createGzip();
  const output = createWriteStream(file);
  const written = pipeline(tar, tarBytes, gzip, output);
  let entries = 0;

  const walk = async (folder: string): Promise<void> => {
    // Docker walks in lexical order; the same order here makes the same tar from the same folder.
    const names = (await readdir(folder)).sort();
    for (const name of names) {
      const path = join(folder, name);
      const rel = contextPath(dir, path);
      const stats = await lstat(path);
      const excluded = filter.excludes(rel);
      if (stats.isDirectory()) {
        if (excluded && !filter.hasExceptions) continue;
        // An excluded folder is walked only for what a `!` pattern brings back; its own entry stays out.
        if (!excluded) {
          await addEntry(tar, header(rel, stats, { type: "directory" }));
          entries++;
        }
        await walk(path);
        continue;
      }
      if (excluded) continue;
      if (stats.isFile()) {
        await addFile(tar, path, rel, stats);
      } else if (stats.isSymbolicLink()) {
        await addEntry(tar, header(rel, stats, { type: "symlink", linkname: await readlink(path) }));
      } else {
        options.onSkip?.(rel, "not a file, folder or symlink (a socket, FIFO or device: a build context cannot hold one)");
        continue;
      }
      entries++;
    }
  };

  let inContext = dockerfile.inContext;
  try {
    await walk(dir);
    if (inContext === null) {
      // As the Docker CLI does with a Dockerfile from outside the folder, it travels in the context under a name of its
      // own; named by its content, so the same folder packs into the same bytes again (a chunked upload resumes by them).
      const content = await readFile(dockerfile.path);
      inContext = `.dockerfile.${createHash("sha256").update(content).digest("hex").slice(0, 20)}`;
      await addEntry(tar, header(inContext, dockerfileStats, { type: "file" }), content);
      entries++;
    }
    tar.finalize();
    await written;
  } catch (error) {
    tar.destroy();
    await written.catch(() => undefined);
    dispose();
    if (error instanceof CliError) throw error;
    throw new CliError(`packing ${options.dir}: ${(error as Error).message}`);
  }
  return { file, bytes: output.bytesWritten, tarBytes: tarBytes.bytes, entries, dockerfile: inContext, ignoreFile: filter.source, dispose };
}
