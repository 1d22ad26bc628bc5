/**
 * One part of a chunked upload: `PUT /v1/uploads/{id}/parts/{number}`. The
 * part must have exactly the length its number calls for and the SHA-256 its
 * Content-Digest states; it streams into R2 as an object of its own, and the
 * last chunk is held back until the digest of the whole part matches, so a
 * part that does not match never becomes an object (and R2 checks the same
 * digest again on its side). A part sent again replaces the first one whole.
 */
import { CONTENT_DIGEST_HEADER, partNumber } from "../../shared/api";
import { parseContentDigest } from "../../shared/content-digest";
import { uploadPartKey } from "../context/keys";
import type { Env } from "../env";
import { ApiError } from "../errors";
import type { UploadPartRecord } from "../pool/records";
import { poolStub } from "../pool/stub";
import { refusal } from "../pool/refusal";
import { RequestBody } from "../requests/body";
import { settings } from "../settings";

function base64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (char) => char.charCodeAt(0));
}

/**
 * Passes the bytes on, holding the last chunk back until their SHA-256 is known: when it is not `expected`, the
 * stream errors before its end and `mismatch()` says what the digest was.
 */
function verifiedBySha256(expected: string): { transform: TransformStream<Uint8Array, Uint8Array>; mismatch: () => string | null } {
  const digest = new crypto.DigestStream("SHA-256");
  const hashing = digest.getWriter();
  let held: Uint8Array | null = null;
  let actual: string | null = null;
  const transform = new TransformStream<Uint8Array, Uint8Array>({
    async transform(chunk, controller) {
      await hashing.write(chunk);
      if (held) controller.enqueue(held);
      held = chunk;
    },
    async flush(controller) {
      await hashing.close();
      actual = base64(new Uint8Array(await digest.digest));
      if (actual !== expected) throw new Error("the part's SHA-256 does not match its Content-Digest");
      if (held) controller.enqueue(held);
    },
  });
  return { transform, mismatch: () => (actual !== null && actual !== expected ? actual : null) };
}

function readLength(request: Request): number {
  const header = request.headers.get("Content-Length");
  if (header === null) throw new ApiError(411, "send each part with a Content-Length", "Content-Length");
  const length = Number(header);
  if (!Number.isSafeInteger(length) || length < 1) throw new ApiError(400, "Content-Length must be a positive number of bytes", "Content-Length");
  return length;
}

export async function storePart(env: Env, tenant: string, id: string, numberText: string, request: Request): Promise<UploadPartRecord> {
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
  const pool = poolStub(env);
  const target = await pool.partTarget(id, tenant, number);
  if ("refused" in target) {
    await body.drain();
    throw refusal(target.refused);
  }
  if (length !== target.ok.bytes) {
    await body.drain();
    throw new ApiError(400, `part ${number} must be exactly ${target.ok.bytes} bytes, not ${length}`, "Content-Length");
  }

  const key = uploadPartKey(id, number);
  const check = verifiedBySha256(sha256);
  try {
    const verified = body.stream().pipeThrough(check.transform).pipeThrough(new FixedLengthStream(length));
    await env.BUCKET.put(key, verified, { sha256: fromBase64(sha256) });
  } catch (error) {
    await body.drain();
    if (body.failure) throw body.failure;
    const actual = check.mismatch();
    if (actual !== null) {
      throw new ApiError(400, `the part's SHA-256 is ${actual}, not what ${CONTENT_DIGEST_HEADER} says; nothing was kept: send it again`, CONTENT_DIGEST_HEADER);
    }
    throw error;
  }
  const recorded = await pool.recordPart(id, tenant, { number, size: length, sha256 });
  if ("refused" in recorded) {
    // Deleted or completed while the part was on its way: the part has no upload to belong to.
    await env.BUCKET.delete(key);
    throw refusal(recorded.refused);
  }
  return recorded.ok;
}
