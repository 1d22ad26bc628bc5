/**
 * One part of a chunked upload: `PUT /v1/uploads/{id}/parts/{number}`. The
 * part must have exactly the length its number calls for and the SHA-256 its
 * Content-Digest states. It is read whole into memory (a part is at most
 * DOCKIFY_MAX_PART_BYTES) and goes to R2 only once its digest matches, as an
 * object of its own that R2 checks against the same digest: a part that does
 * not match, or a body that breaks off or stalls, never reaches R2 at all (a
 * stream that fails mid-put would leave a partial file in wrangler dev's
 * local R2). A part sent again replaces the first one whole. Every attempt
 * writes an object of its own (context/keys.ts): the one recorded last is
 * the part, the one it replaced is deleted, and an attempt the pool refuses
 * deletes only its own.
 */
import { CONTENT_DIGEST_HEADER, partNumber } from "../../shared/api";
import { parseContentDigest } from "../../shared/content-digest";
import { uploadPartKey } from "../context/keys";
import type { Env } from "../env";
import { ApiError } from "../errors";
import type { UploadPartRecord } from "../pool/records";
import { tenantPoolStub } from "../pool/stub";
import { refusal } from "./refusal";
import { RequestBody } from "../requests/body";
import { settings } from "../settings";

function base64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

/** The whole body, `length` bytes, into one buffer. */
async function readWhole(body: RequestBody, length: number): Promise<Uint8Array> {
  const part = new Uint8Array(length);
  let filled = 0;
  for (let chunk = await body.read(); chunk !== null; chunk = await body.read()) {
    part.set(chunk, filled);
    filled += chunk.length;
  }
  return part;
}

function readLength(request: Request): number {
  const header = request.headers.get("Content-Length");
  if (header === null) throw new ApiError(411, "send each part with a Content-Length", "Content-Length");
  const length = Number(header);
  if (!Number.isSafeInteger(length) || length < 1) throw new ApiError(400, "Content-Length must be a positive number of bytes", "Content-Length");
  return length;
}

export async function storePart(env: Env, tenant: string, id: string, numberText: string, request: Request): Promise<Omit<UploadPartRecord, "key">> {
  const limits = settings(env);
  const parsedNumber = partNumber.safeParse(numberText);
  if (!parsedNumber.success) throw new ApiError(400, "number must be a whole number from 1", "number");
  const number = parsedNumber.data;
  const digestHeader = request.headers.get(CONTENT_DIGEST_HEADER);
  const sha256 = digestHeader === null ? null : parseContentDigest(digestHeader);
  if (sha256 === null) {
    throw new ApiError(400, `send the part's SHA-256 as ${CONTENT_DIGEST_HEADER}: sha-256=:<base64>: (RFC 9530)`, CONTENT_DIGEST_HEADER);
  }
  const length = readLength(request);
  if (length > limits.maxPartBytes) throw new ApiError(413, `a part must be at most ${limits.maxPartBytes} bytes (DOCKIFY_MAX_PART_BYTES)`, "Content-Length");
  if (!request.body) throw new ApiError(400, "the request has no body: send the part's bytes", "body");
  const body = new RequestBody(request.body, length, limits.bodyIdleMs);
  const pool = tenantPoolStub(env, tenant);
  const target = await pool.partTarget(id, tenant, number);
  if ("refused" in target) {
    await body.drain();
    throw refusal(target.refused);
  }
  if (length !== target.ok.bytes) {
    await body.drain();
    throw new ApiError(400, `part ${number} must be exactly ${target.ok.bytes} bytes, not ${length}`, "Content-Length");
  }

  const part = await readWhole(body, length);
  const actual = new Uint8Array(await crypto.subtle.digest("SHA-256", part));
  if (base64(actual) !== sha256) {
    throw new ApiError(400, `the part's SHA-256 is ${base64(actual)}, not what ${CONTENT_DIGEST_HEADER} says; nothing was kept: send it again`, CONTENT_DIGEST_HEADER);
  }
  const key = uploadPartKey(id, number, crypto.randomUUID());
  await env.BUCKET.put(key, part, { sha256: actual });
  const recorded = await pool.recordPart(id, tenant, { number, size: length, sha256, key });
  if ("refused" in recorded) {
    // Deleted or completed while the part was on its way: this attempt's object belongs to nothing.
    await env.BUCKET.delete(key);
    throw refusal(recorded.refused);
  }
  if (recorded.ok.replaced) {
    // Left behind if this fails: it goes with the upload's prefix when the upload is deleted or expires.
    await env.BUCKET.delete(recorded.ok.replaced).catch((error: unknown) => {
      console.error(`upload ${id}: could not delete the part ${number} it replaced: ${String(error)}`);
    });
  }
  return { number, size: length, sha256 };
}
