/**
 * Writes a stream of unknown length to one R2 object. R2 wants every length
 * up front; a multipart upload's parts have them. So bytes are gathered into
 * one part of CONTEXT_PART_BYTES at a time and each full part is uploaded
 * before the next is gathered: at most one part is in memory, whatever the
 * object's size. An object that ends within its first part is one plain put.
 */
import { CONTEXT_PART_BYTES } from "../settings";

const CONTENT_TYPE = { contentType: "application/x-tar" };

interface UploadedPart {
  partNumber: number;
  etag: string;
}

/** What the writer uses of an R2 bucket (an R2Bucket is one); named so the bench can run this code in Node. */
export interface PartSink {
  put(key: string, value: Uint8Array, options: { httpMetadata: typeof CONTENT_TYPE }): Promise<unknown>;
  createMultipartUpload(
    key: string,
    options: { httpMetadata: typeof CONTENT_TYPE },
  ): Promise<{
    uploadId: string;
    uploadPart(partNumber: number, value: Uint8Array): Promise<UploadedPart>;
    complete(parts: UploadedPart[]): Promise<unknown>;
    abort(): Promise<void>;
  }>;
}
/** The buffer starts small and grows to a part, so a small context does not cost a whole part of memory. */
const FIRST_BUFFER_BYTES = 64 * 1024;

export class R2PartWriter {
  #buffer: Uint8Array;
  #filled = 0;
  #written = 0;
  #upload: Awaited<ReturnType<PartSink["createMultipartUpload"]>> | null = null;
  readonly #parts: UploadedPart[] = [];

  /**
   * @param onMultipart told the id of the multipart upload as soon as it exists, before any part is sent,
   *   so that whoever cleans up after a crash can abort it
   */
  constructor(
    private readonly bucket: PartSink,
    private readonly key: string,
    private readonly onMultipart: (uploadId: string) => Promise<void>,
    private readonly partBytes = CONTEXT_PART_BYTES,
  ) {
    this.#buffer = new Uint8Array(Math.min(FIRST_BUFFER_BYTES, partBytes));
  }

  async write(chunk: Uint8Array): Promise<void> {
    let at = 0;
    while (at < chunk.length) {
      if (this.#filled === this.#buffer.length) this.#grow();
      const take = Math.min(chunk.length - at, this.#buffer.length - this.#filled);
      this.#buffer.set(chunk.subarray(at, at + take), this.#filled);
      this.#filled += take;
      at += take;
      if (this.#filled === this.partBytes) await this.#sendPart();
    }
    this.#written += chunk.length;
  }

  /** Stores what was written; returns its bytes. */
  async finish(): Promise<number> {
    if (!this.#upload) {
      await this.bucket.put(this.key, this.#buffer.subarray(0, this.#filled), { httpMetadata: CONTENT_TYPE });
      return this.#written;
    }
    if (this.#filled > 0) await this.#sendPart();
    await this.#upload.complete(this.#parts);
    return this.#written;
  }

  /** Drops what was sent; never throws, since it runs while another error is being reported. */
  async abort(): Promise<void> {
    try {
      await this.#upload?.abort();
    } catch (error) {
      console.error(`aborting the multipart upload of ${this.key}: ${String(error)}`);
    }
  }

  #grow(): void {
    const bigger = new Uint8Array(Math.min(this.#buffer.length * 2, this.partBytes));
    bigger.set(this.#buffer);
    this.#buffer = bigger;
  }

  async #sendPart(): Promise<void> {
    if (!this.#upload) {
      this.#upload = await this.bucket.createMultipartUpload(this.key, { httpMetadata: CONTENT_TYPE });
      await this.onMultipart(this.#upload.uploadId);
    }
    // The part is sent and acknowledged before the buffer is filled again.
    this.#parts.push(await this.#upload.uploadPart(this.#parts.length + 1, this.#buffer.subarray(0, this.#filled)));
    this.#filled = 0;
  }
}
