/**
 * Completing a chunked upload: `POST /v1/uploads/{id}/complete`. Its parts,
 * read from R2 in order as one stream (gunzipped if they are gzip), are
 * checked entry by entry and written anew as the upload's context, exactly as
 * a context sent in one request is (context/store.ts); only then is the upload
 * ready for a build. An upload that fails the check is refused and deleted,
 * parts and all: nothing of it can be built, or half-used.
 *
 * Checking gigabytes takes a while: the request renews its lock on the upload
 * while it works (keep-alive.ts). If it dies, the lock lapses and completing
 * again starts over; a check that was taken over cannot finish (fenced by the
 * attempt number), so two never both succeed.
 */
import { ApiError } from "../errors";
import { storeCheckedContext } from "../context/store";
import type { Env } from "../env";
import { keepAlive } from "../keep-alive";
import type { UploadPartRecord, UploadRecord } from "../pool/records";
import { refusal } from "./refusal";
import { tenantPoolStub } from "../pool/stub";
import { R2_MAX_DELETE_KEYS, settings } from "../settings";

const SUPERSEDED = "the upload was deleted, or completed again, while this request was checking it";

function base64(buffer: ArrayBuffer): string {
  return btoa(String.fromCharCode(...new Uint8Array(buffer)));
}

/** The parts' bytes in order, as one stream: each the object its row names, with the size and SHA-256 recorded. */
async function* partsInOrder(bucket: R2Bucket, parts: readonly UploadPartRecord[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) {
    const object = await bucket.get(part.key);
    // Parts go only with their upload: one missing means the upload was deleted while it was being checked.
    if (!object) throw new ApiError(409, `part ${part.number} is gone: ${SUPERSEDED}`, "id");
    // R2 keeps the SHA-256 it checked the put against (part.ts): an object that is not the part recorded is not used.
    const stored = object.checksums.sha256;
    if (object.size !== part.size || !stored || base64(stored) !== part.sha256) {
      await object.body.cancel();
      throw new ApiError(409, `part ${part.number} in storage is not the part recorded (size or SHA-256 differ): send it again`, "parts");
    }
    const reader = object.body.getReader();
    try {
      for (let next = await reader.read(); !next.done; next = await reader.read()) yield next.value;
    } finally {
      // Stopped early (the check refused): an R2 read left open would hold the object's stream.
      await reader.cancel().catch(() => undefined);
    }
  }
}

/** Logs a cleanup that failed after a check did; the sweep finishes it, and the check's own answer stands. */
function cleanupFailed(id: string): (error: unknown) => void {
  return (error) => console.error(`upload ${id}: cleaning up after its check: ${String(error)}`);
}

export async function completeUpload(env: Env, tenant: string, id: string): Promise<UploadRecord> {
  const limits = settings(env);
  const pool = tenantPoolStub(env, tenant);
  const started = await pool.beginCheck(id, tenant);
  if ("refused" in started) throw refusal(started.refused);
  if ("ready" in started.ok) return started.ok.ready;
  const { attempt, upload, parts, staleMultipartId } = started.ok;
  if (staleMultipartId) {
    await env.BUCKET.resumeMultipartUpload(upload.contextKey, staleMultipartId).abort().catch((error: unknown) => {
      console.error(`upload ${id}: aborting the multipart upload of a check that died: ${String(error)}`);
    });
  }

  const written = { bytes: 0 };
  const alive = keepAlive(() => pool.renewUpload(id, attempt, written.bytes));
  let contextBytes: number;
  try {
    contextBytes = await storeCheckedContext(env.BUCKET, upload.contextKey, partsInOrder(env.BUCKET, parts), {
      maxEntries: limits.maxContextEntries,
      maxBytes: limits.maxContextBytes,
      signal: alive.signal,
      written,
      maxDockerfileBytes: limits.maxDockerfileBytes,
      onMultipart: async (multipartId) => {
        if (!(await pool.recordMultipart(id, attempt, multipartId))) throw new ApiError(409, SUPERSEDED, "id");
      },
      // A check that was taken over must not make its object visible after the one that took over.
      beforeFinish: async () => {
        const renewed = await pool.renewUpload(id, attempt, written.bytes);
        if ("refused" in renewed) throw refusal(renewed.refused);
      },
    });
  } catch (error) {
    // A refused context is deleted whole; anything else (R2 trouble, a part gone, the check taken over) gives the
    // check back, the upload open to complete again. Neither's own failure replaces the answer.
    const refusedContext = error instanceof ApiError && error.status !== 409;
    await (refusedContext ? pool.deleteUpload(id, tenant) : pool.giveBackCheck(id, attempt)).catch(cleanupFailed(id));
    throw error;
  } finally {
    alive.stop();
  }

  const finished = await pool.finishCheck(id, attempt, contextBytes);
  if ("refused" in finished) {
    // Over the tenant's limit once decompressed: refused like a context that fails the check. Superseded: not ours.
    if (finished.refused.status === 429) await pool.deleteUpload(id, tenant).catch(cleanupFailed(id));
    throw refusal(finished.refused);
  }
  // The parts are checked and re-packed: what stays is the context. A part R2 fails to delete now goes with the
  // upload's prefix if the upload is deleted; once a build takes it, the part is left behind, so say so.
  const keys = parts.map((part) => part.key);
  for (let at = 0; at < keys.length; at += R2_MAX_DELETE_KEYS) {
    await env.BUCKET.delete(keys.slice(at, at + R2_MAX_DELETE_KEYS)).catch((error: unknown) => {
      console.error(`upload ${id}: could not delete its parts after the check: ${String(error)}`);
    });
  }
  return finished.ok;
}
