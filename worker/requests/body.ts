/**
 * A request body read with a deadline and held to its Content-Length, so
 * that no body can wedge a request: one that sends nothing for
 * DOCKIFY_BODY_IDLE_SECONDS is answered 408, one that ends (or breaks off)
 * before its stated length 400, each naming the field `body`.
 *
 * A refused body is still read to its end before the refusal is answered,
 * within the same deadline: a request body cancelled mid-upload leaves the
 * runtime's connection half-read, and under `wrangler dev` the next request
 * on it failed (#13).
 */
import { ApiError } from "../errors";

export class RequestBody {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  #received = 0;
  #failed: ApiError | null = null;

  /**
   * @param declaredBytes the request's Content-Length; null when it stated none (a chunked body, whose end the
   *   runtime sees; its size is then someone else's to cap)
   * @param idleMs how long a read may wait for the next bytes
   */
  constructor(
    body: ReadableStream<Uint8Array>,
    private readonly declaredBytes: number | null,
    private readonly idleMs: number,
  ) {
    this.#reader = body.getReader();
  }

  /** Bytes received so far. */
  get received(): number {
    return this.#received;
  }

  /** The next chunk, or null at the end of a complete body; throws the 400 or 408 described above. */
  async read(): Promise<Uint8Array | null> {
    if (this.#failed) throw this.#failed;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const idle = new Promise<"idle">((resolve) => {
      timer = setTimeout(() => resolve("idle"), this.idleMs);
    });
    let result: ReadableStreamReadResult<Uint8Array> | "idle";
    try {
      result = await Promise.race([this.#reader.read(), idle]);
    } catch {
      const of = this.declaredBytes === null ? "" : ` of its ${this.declaredBytes}`;
      throw this.#fail(400, `the body broke off after ${this.#received}${of} bytes (Content-Length)`);
    } finally {
      clearTimeout(timer);
    }
    if (result === "idle") {
      // Nothing more will be read: let the runtime drop the connection rather than wait for the client.
      this.#reader.cancel().catch(() => undefined);
      throw this.#fail(408, `no bytes of the body arrived for ${this.idleMs / 1000} s (DOCKIFY_BODY_IDLE_SECONDS): send the whole body without pausing`);
    }
    if (result.done) {
      if (this.declaredBytes !== null && this.#received < this.declaredBytes) {
        throw this.#fail(400, `the body ended after ${this.#received} of its ${this.declaredBytes} bytes (Content-Length)`);
      }
      return null;
    }
    this.#received += result.value.byteLength;
    if (this.declaredBytes !== null && this.#received > this.declaredBytes) throw this.#fail(400, `the body is longer than its Content-Length of ${this.declaredBytes} bytes`);
    return result.value;
  }

  /** The body as chunks, for the readers that pull (the tar check). */
  async *chunks(): AsyncGenerator<Uint8Array> {
    for (let chunk = await this.read(); chunk !== null; chunk = await this.read()) yield chunk;
  }

  /** The body as a stream, for APIs that take one (R2, FormData). */
  stream(): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          try {
            const chunk = await this.read();
            if (chunk === null) controller.close();
            else controller.enqueue(chunk);
          } catch (error) {
            controller.error(error);
          }
        },
        cancel: (reason) => this.#reader.cancel(reason),
      },
      { highWaterMark: 0 },
    );
  }

  /** Reads and drops what is left, after a refusal; stops at the first 400 or 408, which then is the answer instead. */
  async drain(): Promise<void> {
    try {
      while ((await this.read()) !== null) {
        // dropped
      }
    } catch {
      // the body's own failure: nothing more can be read
    }
  }

  /** The body's own failure, if it had one: it explains a refusal better than whatever it broke further down. */
  get failure(): ApiError | null {
    return this.#failed;
  }

  #fail(status: 400 | 408, message: string): ApiError {
    this.#failed = new ApiError(status, message, "body");
    return this.#failed;
  }
}
