/**
 * Large build contexts written straight to a file, never held in memory: a
 * Dockerfile and files of random bytes (so nothing compresses them away), with
 * each file's SHA-256 computed as it is written, so a build can prove it
 * received every byte. For the large-context test and bench.
 */
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { once } from "node:events";
import { encodeHeader, END_OF_ARCHIVE, padding } from "../shared/tar/header";

export interface BigContextSpec {
  dockerfile: string;
  /** Files of random bytes under `data/`: name → bytes. */
  files: Record<string, number>;
}

export interface BigContext {
  path: string;
  /** Bytes of the tar. */
  bytes: number;
  /** `sha256sum` lines of the data files, as `cd data && sha256sum *` prints them (sorted by name). */
  sums: string;
}

const CHUNK = 1024 * 1024;

/** A `data/` folder of random files, checked by a first stage and reported by a tiny second one (nothing big is pushed). */
export function checksumDockerfile(baseImage: string, label: string): string {
  return [
    `FROM ${baseImage} AS check`,
    // Marks the first stage's images, which stay on the Engine untagged, so their maker can remove exactly them.
    `LABEL ${label}`,
    "COPY data/ /data/",
    "RUN cd /data && sha256sum * > /sums",
    `FROM ${baseImage}`,
    "COPY --from=check /sums /sums",
    "",
  ].join("\n");
}

export async function writeBigContext(path: string, spec: BigContextSpec): Promise<BigContext> {
  const out = createWriteStream(path);
  let bytes = 0;
  const write = async (chunk: Uint8Array) => {
    bytes += chunk.length;
    if (!out.write(chunk)) await once(out, "drain");
  };
  const mtime = Math.floor(Date.now() / 1000);
  const dockerfile = Buffer.from(spec.dockerfile);
  await write(encodeHeader({ name: "Dockerfile", type: "file", mode: 0o644, size: dockerfile.length, mtime }));
  await write(dockerfile);
  await write(new Uint8Array(padding(dockerfile.length)));
  await write(encodeHeader({ name: "data", type: "directory", mode: 0o755, size: 0, mtime }));
  const sums: string[] = [];
  for (const [name, size] of Object.entries(spec.files).sort(([a], [b]) => a.localeCompare(b))) {
    await write(encodeHeader({ name: `data/${name}`, type: "file", mode: 0o644, size, mtime }));
    const hash = createHash("sha256");
    for (let left = size; left > 0; left -= CHUNK) {
      const chunk = randomBytes(Math.min(CHUNK, left));
      hash.update(chunk);
      await write(chunk);
    }
    await write(new Uint8Array(padding(size)));
    sums.push(`${hash.digest("hex")}  ${name}`);
  }
  await write(END_OF_ARCHIVE);
  out.end();
  await once(out, "finish");
  return { path, bytes, sums: `${sums.join("\n")}\n` };
}
