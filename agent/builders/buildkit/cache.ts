/**
 * The Engine's BuildKit cache, kept under a byte bound: after each build the
 * agent asks the Engine to prune the least recently used cache records beyond
 * DOCKIFY_AGENT_CACHE_BYTES (`POST /build/prune?keep-storage=N`). Records in
 * use by a running build are never pruned.
 *
 * The bound goes to the Engine as a decimal string built from a checked safe
 * integer, never from bit shifts: in JavaScript `1 << 40` is 256, and
 * `keep-storage=256` empties the cache, as `keep-storage=0` (no bound at all)
 * would too. Both are refused here, whatever the configuration says.
 */
import type Docker from "dockerode";
import { formatByteSize } from "../../../shared/byte-size";
import { daemonError } from "../../docker";

/** Below this a cache cannot hold even a small build's layers; also what keeps a typo from emptying the cache. */
export const MIN_CACHE_BYTES = 256 * 1024 ** 2;

/** The query value for `keep-storage`: the bound in bytes, in decimal digits. Throws for a bound that would empty the cache. */
export function keepStorage(bytes: number): string {
  if (!Number.isSafeInteger(bytes) || bytes < MIN_CACHE_BYTES) {
    throw new Error(`refusing to prune the build cache to ${bytes} bytes: the bound must be a whole number of at least ${formatByteSize(MIN_CACHE_BYTES)}`);
  }
  return String(bytes);
}

interface PruneAnswer {
  CachesDeleted?: string[] | null;
  SpaceReclaimed?: number;
}

/**
 * One prune at a time per agent: builds ending together share the next one rather than queue up their own. A build
 * that ends while a prune runs gets that prune's answer and one more prune after it, which no caller awaits: what it
 * could not do goes to `status`, the agent's own output.
 */
export class CacheBound {
  readonly #docker: Docker;
  readonly #bound: number;
  readonly #bytes: string;
  readonly #status: (line: string) => void;
  #running: Promise<PruneAnswer> | undefined;
  #again = false;

  constructor(docker: Docker, bytes: number, status: (line: string) => void) {
    this.#docker = docker;
    this.#bound = bytes;
    this.#bytes = keepStorage(bytes);
    this.#status = status;
  }

  /** Prunes the cache down to the bound; resolves with what went. Rejects with the daemon's message. */
  async enforce(): Promise<PruneAnswer> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#prune().finally(() => {
      this.#running = undefined;
      if (this.#again) {
        this.#again = false;
        this.enforce().catch((error: unknown) => this.#status(`could not prune the build cache down to ${formatByteSize(this.#bound)}: ${(error as Error).message}`));
      }
    });
    return this.#running;
  }

  #prune(): Promise<PruneAnswer> {
    return new Promise((resolve, reject) => {
      this.#docker.modem.dial(
        {
          path: "/build/prune?",
          method: "POST",
          // `_query` alone: dockerode would otherwise send the options as a JSON body too.
          // `all`: internal and frontend records (build contexts, `# syntax=` frontends) count against the bound too.
          options: { _query: { "keep-storage": this.#bytes, all: "1" }, _body: {} },
          statusCodes: { 200: true, 400: "bad parameter", 500: "server error" },
        },
        (error: unknown, answer: unknown) => (error ? reject(daemonError(error)) : resolve((answer ?? {}) as PruneAnswer)),
      );
    });
  }
}
