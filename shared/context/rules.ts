/**
 * What a build context may hold, checked entry by entry as its tar streams
 * past, by the Worker before it stores a context and by the agent again as
 * the context goes into Docker (one set of rules, two places).
 *
 * Allowed: regular files, folders, symlinks that resolve inside the context
 * and hard links to a regular file earlier in the archive, with their
 * permission bits. Refused: device files and FIFOs; paths that are absolute,
 * contain `..`, `.` or empty segments, or are not clean UTF-8; a path given
 * twice, or a path inside something that is not a folder (a symlink above an
 * entry is how an extraction is steered outside); and symlinks whose target
 * leaves the context when followed as the kernel follows it, through other
 * symlinks (`d/up -> ..` then `esc -> d/up/..` climbs out, though the text
 * `d/up/..` alone does not). Symlinks are resolved against the whole archive
 * once it has been read, so their order does not matter.
 *
 * Memory is bounded whatever the archive: the names kept to resolve links
 * are capped (MAX_INDEX_BYTES), as is the work of resolving them.
 */
import { checkContextPath, CONTROL, DOCKERFILE_PATH } from "../context-path";
import type { WrittenEntry } from "../tar/header";
import { quoted, type TarEntry } from "../tar/reader";

/**
 * Paths (and symlink targets) in a user's tarball: PAX headers allow long ones, Linux only PATH_MAX (4,096) with
 * whatever the Engine puts before them. Engine 20.10 unpacks a context in a chroot, but `COPY . /` of a 4,090-byte
 * path fails "file name too long" under /var/lib/docker/overlay2/<id>/diff/ (measured; 4,000 bytes still built), and
 * a COPY into a deep folder adds its own length: 3,000 leaves about a thousand bytes for Docker's data root and the
 * destination.
 */
export const MAX_ARCHIVE_PATH_BYTES = 3000;
/**
 * The names kept while checking (every path, and symlink targets), counted with a fixed cost per entry for the
 * map that holds them: about 70,000 entries of typical length fit. It bounds the memory of a check.
 */
export const MAX_INDEX_BYTES = 8 * 1024 * 1024;
const ENTRY_COST_BYTES = 64;
/** As Linux (MAXSYMLINKS): a chain longer than this is a loop or an attack. */
export const MAX_SYMLINK_HOPS = 40;
/** Steps of symlink resolution for the whole archive: real trees need a few per link; a crafted tangle is refused. */
export const MAX_RESOLVE_STEPS = 1_000_000;

/** An entry's path or link is not allowed in a build context; the message names it. */
export class ContextError extends Error {}

/** The Dockerfile entry is over its bound (the Worker's DOCKIFY_MAX_DOCKERFILE_BYTES): the API answers 413 naming dockerfile. */
export class DockerfileTooLargeError extends ContextError {}

type Kind = "file" | "directory" | "symlink" | "implicit-directory";
/**
 * What the index keeps of a path: a regular file's permission bits (a hard link to it needs them), or a negative
 * code for the other kinds. One small number a path keeps the index small.
 */
const CODES = { directory: -1, symlink: -2, "implicit-directory": -3 } as const;

function kindOf(code: number | undefined): Kind | undefined {
  if (code === undefined) return undefined;
  if (code >= 0) return "file";
  return (Object.keys(CODES) as (keyof typeof CODES)[]).find((kind) => CODES[kind] === code);
}

export interface ContextLimits {
  /** Entries allowed, folders and links included. */
  maxEntries: number;
  /** The path of the regular file the build reads as its Dockerfile (its `dockerfile` field); `Dockerfile` by default. */
  dockerfile?: string;
  /** The most bytes the Dockerfile may have: the agent reads it whole, and the Worker serves it whole. */
  maxDockerfileBytes?: number;
}

/** `./a/b/` → `a/b`; the archive root itself becomes "". */
function normalize(name: string): string {
  return name.replace(/^(\.\/)+/, "").replace(/\/+$/, "");
}

function byteLength(text: string): number {
  return new TextEncoder().encode(text).length;
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash === -1 ? "" : path.slice(0, slash);
}

export class ContextChecker {
  readonly #index = new Map<string, number>();
  readonly #symlinks = new Map<string, string>();
  #entries = 0;
  #indexBytes = 0;
  #dockerfile = false;

  constructor(private readonly limits: ContextLimits) {}

  /**
   * The entry as it will be written, or null for one that is dropped (the archive's root folder);
   * throws ContextError when it may not be in a context.
   */
  admit(entry: TarEntry): WrittenEntry | null {
    this.#entries += 1;
    if (this.#entries > this.limits.maxEntries) throw new ContextError(`more than ${this.limits.maxEntries} entries`);
    const name = normalize(entry.name);
    if (name === "" && entry.type === "directory") return null;
    const pathProblem = checkContextPath(name, MAX_ARCHIVE_PATH_BYTES);
    if (pathProblem) throw new ContextError(`entry ${quoted(entry.name)}: ${pathProblem}`);
    this.#count(name, entry.type === "symlink" ? entry.linkname : "");
    this.#placeAncestors(name);
    switch (entry.type) {
      case "file":
        this.#claim(name, entry.mode & 0o7777);
        if (name === (this.limits.dockerfile ?? DOCKERFILE_PATH)) {
          const max = this.limits.maxDockerfileBytes;
          if (max !== undefined && entry.size > max) throw new DockerfileTooLargeError(`the Dockerfile ${quoted(name)} is ${entry.size} bytes, more than ${max}`);
          this.#dockerfile = true;
        }
        return { name, type: "file", mode: entry.mode & 0o7777, size: entry.size, mtime: entry.mtime };
      case "directory":
        this.#claim(name, CODES.directory);
        return { name, type: "directory", mode: entry.mode & 0o7777, size: 0, mtime: entry.mtime };
      case "symlink":
        this.#checkSymlinkText(name, entry.linkname);
        this.#claim(name, CODES.symlink);
        this.#symlinks.set(name, entry.linkname);
        return { name, type: "symlink", mode: 0o777, size: 0, mtime: entry.mtime, linkname: entry.linkname };
      case "link": {
        const target = this.#hardLinkTarget(name, entry.linkname);
        // One file under two names: the link has the file's mode (Docker applies a link entry's mode to the file).
        const mode = this.#index.get(target)!;
        this.#claim(name, mode);
        return { name, type: "link", mode, size: 0, mtime: entry.mtime, linkname: target };
      }
      default:
        throw new ContextError(`entry ${quoted(name)} is a ${entry.type}: only files, folders and links may be in a context`);
    }
  }

  /** Checks what needs the whole archive: every symlink followed through the others, and the Dockerfile. */
  finish(): void {
    if (!this.#dockerfile) {
      const dockerfile = this.limits.dockerfile ?? DOCKERFILE_PATH;
      throw new ContextError(
        dockerfile === DOCKERFILE_PATH ? `no regular file named ${DOCKERFILE_PATH} at the root of the archive` : `no regular file at ${dockerfile} (the dockerfile field)`,
      );
    }
    const budget = { steps: MAX_RESOLVE_STEPS };
    for (const [path, target] of this.#symlinks) {
      if (!this.#resolvesInside(parentOf(path), target, budget)) {
        throw new ContextError(`symlink ${quoted(path)} points outside the context (${quoted(target)}), following the links it goes through`);
      }
    }
  }

  #count(name: string, target: string): void {
    this.#indexBytes += byteLength(name) + byteLength(target) + ENTRY_COST_BYTES;
    if (this.#indexBytes > MAX_INDEX_BYTES) {
      throw new ContextError(`the entries' names add up to more than ${MAX_INDEX_BYTES} bytes; send fewer or shorter paths`);
    }
  }

  /** Every folder above the entry must be a folder (or not seen yet, and then it is one). */
  #placeAncestors(name: string): void {
    let at = name.indexOf("/");
    while (at !== -1) {
      const ancestor = name.slice(0, at);
      const kind = kindOf(this.#index.get(ancestor));
      if (kind === undefined) {
        // Deep paths imply many folders: each is a name kept, and counted as one.
        this.#count(ancestor, "");
        this.#index.set(ancestor, CODES["implicit-directory"]);
      } else if (kind !== "directory" && kind !== "implicit-directory") {
        throw new ContextError(`entry ${quoted(name)} is inside ${quoted(ancestor)}, which is a ${kind}, not a folder`);
      }
      at = name.indexOf("/", at + 1);
    }
  }

  /** A path appears once; only a folder already implied by the entries inside it may still come as a folder. */
  #claim(name: string, code: number): void {
    const existing = kindOf(this.#index.get(name));
    if (existing === "implicit-directory" && code === CODES.directory) {
      this.#index.set(name, code);
      return;
    }
    if (existing !== undefined) {
      const was = existing === "implicit-directory" ? "a folder holding earlier entries" : `a ${existing}`;
      throw new ContextError(`entry ${quoted(name)} appears twice in the archive (it was already ${was})`);
    }
    this.#index.set(name, code);
  }

  #checkSymlinkText(name: string, target: string): void {
    if (target === "") throw new ContextError(`symlink ${quoted(name)} has an empty target`);
    if (byteLength(target) > MAX_ARCHIVE_PATH_BYTES) throw new ContextError(`symlink ${quoted(name)} has a target longer than ${MAX_ARCHIVE_PATH_BYTES} bytes`);
    if (CONTROL.test(target)) throw new ContextError(`symlink ${quoted(name)} has a target with control characters`);
    if (target.startsWith("/")) throw new ContextError(`symlink ${quoted(name)} points to the absolute path ${quoted(target)}`);
  }

  /**
   * Hard links are kept as hard links, which is how tar stores one file under two names, but only to a regular
   * file that came earlier in the archive: that is what the link means to every reader, and it cannot be a folder,
   * a symlink or something outside.
   */
  #hardLinkTarget(name: string, linkname: string): string {
    const target = normalize(linkname);
    const problem = checkContextPath(target, MAX_ARCHIVE_PATH_BYTES);
    if (problem) throw new ContextError(`hard link ${quoted(name)} points outside the context: ${problem}`);
    if (kindOf(this.#index.get(target)) !== "file") {
      throw new ContextError(`hard link ${quoted(name)} points to ${quoted(target)}, which is not a regular file earlier in the archive`);
    }
    return target;
  }

  /**
   * Follows `target` from the folder `from` as the kernel would: component by component, a symlink met on the way
   * replaced by its own target (read from its own folder), so `..` after it climbs from where it really leads.
   * Paths not in the archive are taken as plain names. False when the walk climbs above the root.
   */
  #resolvesInside(from: string, target: string, budget: { steps: number }): boolean {
    const stack = from === "" ? [] : from.split("/");
    // Reversed, so the next component is popped off the end.
    const pending = target.split("/").reverse();
    let hops = 0;
    while (pending.length > 0) {
      // Every component costs a step, and a lookup the length of the path looked up.
      if (--budget.steps < 0) throw new ContextError("the archive's symlinks take too long to resolve; simplify them");
      const part = pending.pop()!;
      if (part === "" || part === ".") continue;
      if (part === "..") {
        if (stack.length === 0) return false;
        stack.pop();
        continue;
      }
      stack.push(part);
      budget.steps -= stack.length;
      const link = this.#symlinks.get(stack.join("/"));
      if (link === undefined) continue;
      if (++hops > MAX_SYMLINK_HOPS) throw new ContextError(`symlink chain through ${quoted(stack.join("/"))} is longer than ${MAX_SYMLINK_HOPS} links (a loop?)`);
      stack.pop();
      pending.push(...link.split("/").reverse());
    }
    return true;
  }
}
