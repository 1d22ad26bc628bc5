/** Rules for a file's path inside a build context: relative, clean, and unable to escape the root. */

/** Fits the ustar name field whole, so the Worker's tar writer needs no long-name extension. */
export const MAX_PATH_BYTES = 100;
/**
 * One name between slashes, as Linux file systems allow (NAME_MAX). A longer one passes every other rule, but the
 * Docker Engine cannot unpack it: Engine 20.10 answers the classic /build with HTTP 500 "file name too long".
 */
export const MAX_SEGMENT_BYTES = 255;
/** C0 and C1 control characters, NUL included: never in a path or a link's target. */
export const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** `maxBytes`: uploaded files go into a tar the Worker writes (100); a user's own tarball may carry longer paths. */
export function checkContextPath(path: string, maxBytes = MAX_PATH_BYTES): string | null {
  if (path.length === 0) return "file name must not be empty";
  const encoder = new TextEncoder();
  if (encoder.encode(path).length > maxBytes) return `file name must be at most ${maxBytes} bytes`;
  if (CONTROL.test(path)) return "file name must not contain control characters";
  if (path.includes("\\")) return "file name must use '/' between folders, not '\\'";
  if (path.startsWith("/")) return "file name must be relative to the build context, not absolute";
  const segments = path.split("/");
  if (segments.some((segment) => segment === "" || segment === "." || segment === "..")) {
    return "file name must not contain empty, '.' or '..' segments";
  }
  if (segments.some((segment) => encoder.encode(segment).length > MAX_SEGMENT_BYTES)) {
    return `each name between slashes must be at most ${MAX_SEGMENT_BYTES} bytes`;
  }
  return null;
}

/** The build reads the Dockerfile from this path; no other file may take it. */
export const DOCKERFILE_PATH = "Dockerfile";

export function isDockerfilePath(path: string): boolean {
  return path.toLowerCase() === DOCKERFILE_PATH.toLowerCase();
}
