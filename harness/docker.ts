/**
 * The real Docker Engine on the default socket: a tiny base image made from the
 * host's static busybox (nothing can be pulled from Docker Hub), and push, pull
 * and run helpers that read Docker's JSON stream line by line and throw on errors,
 * and a look at which build steps run now.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import Docker from "dockerode";
import { extract, pack } from "tar-stream";
import type { Readable } from "node:stream";
import { eventError, pushedDigest, readDockerStream, type DockerEvent } from "../agent/docker-stream";

export const docker = new Docker();

/** Debian's busybox-static installs /bin/busybox (the same file as /usr/bin/busybox on merged-/usr systems). */
const BUSYBOX_CANDIDATES = ["/usr/bin/busybox", "/bin/busybox"];
const PT_INTERP = 3;
/** Marks every image the harness builds, so a leftover is easy to find: `docker images -f label=dockify.e2e`. */
export const E2E_LABEL = "dockify.e2e";

export interface RegistryAuth {
  username: string;
  password: string;
}

/**
 * Reads a Docker JSON-lines stream to its end with the agent's own reader;
 * throws on the first error event. Lines that are not JSON are skipped.
 */
export async function readJsonStream(stream: NodeJS.ReadableStream, what: string): Promise<DockerEvent[]> {
  const events: DockerEvent[] = [];
  for await (const line of readDockerStream(stream as AsyncIterable<Uint8Array>)) {
    if ("text" in line) continue;
    const error = eventError(line.event);
    if (error) throw new Error(`${what} failed: ${error}`);
    events.push(line.event);
  }
  return events;
}

/** True when the ELF file at `path` asks for no program interpreter, i.e. runs without a libc in the image. */
function isStaticElf(path: string): boolean {
  const elf = readFileSync(path);
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46) return false;
  const is64 = elf[4] === 2;
  const little = elf[5] === 1;
  const u16 = (at: number) => (little ? elf.readUInt16LE(at) : elf.readUInt16BE(at));
  const u32 = (at: number) => (little ? elf.readUInt32LE(at) : elf.readUInt32BE(at));
  const phoff = is64 ? Number(little ? elf.readBigUInt64LE(0x20) : elf.readBigUInt64BE(0x20)) : u32(0x1c);
  const phentsize = u16(is64 ? 0x36 : 0x2a);
  const phnum = u16(is64 ? 0x38 : 0x2c);
  for (let index = 0; index < phnum; index++) {
    if (u32(phoff + index * phentsize) === PT_INTERP) return false;
  }
  return true;
}

/** The host's statically linked busybox; throws with the fix when there is none. */
export function staticBusybox(): string {
  for (const path of BUSYBOX_CANDIDATES) {
    try {
      if (isStaticElf(path)) return path;
    } catch {
      // missing or unreadable: try the next one
    }
  }
  throw new Error(`no statically linked busybox at ${BUSYBOX_CANDIDATES.join(" or ")}: apt-get install -y busybox-static`);
}

export interface ContextFile {
  content: string | Buffer;
  mode?: number;
}

/** Builds `tag` with the classic builder from in-memory files (a `Dockerfile` among them); returns the image id. */
export async function buildFromFiles(tag: string, files: Record<string, string | Buffer | ContextFile>): Promise<string> {
  const tar = pack();
  for (const [name, file] of Object.entries(files)) {
    const { content, mode = 0o644 } = typeof file === "string" || Buffer.isBuffer(file) ? { content: file } : file;
    const body = Buffer.isBuffer(content) ? content : Buffer.from(content);
    tar.entry({ name, mode, size: body.length, mtime: new Date(0) }, body);
  }
  tar.finalize();
  const stream = await docker.buildImage(tar as unknown as NodeJS.ReadableStream, {
    t: tag,
    rm: true,
    forcerm: true,
    version: "1",
    labels: { [E2E_LABEL]: "true" },
  });
  const events = await readJsonStream(stream, `docker build of ${tag}`);
  const id = events.find((event) => event.aux?.ID)?.aux?.ID;
  if (!id) throw new Error(`docker build of ${tag} ended without an image id`);
  return id;
}

/**
 * An image FROM scratch holding only the host's static busybox at /bin/busybox
 * and its applet links in /bin, so `RUN echo hi` and `sh -c` work in builds.
 */
export function buildBaseImage(tag: string): Promise<string> {
  const dockerfile = [
    "FROM scratch",
    "COPY busybox /bin/busybox",
    'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
    "RUN mkdir -p /tmp /etc /root && chmod 1777 /tmp",
    "ENV PATH=/bin",
    'CMD ["sh"]',
    "",
  ].join("\n");
  return buildFromFiles(tag, {
    Dockerfile: dockerfile,
    busybox: { content: readFileSync(staticBusybox()), mode: 0o755 },
  });
}

/** Splits `host:port/path/name:tag` into the name and the tag (default `latest`); digests are kept whole. */
export function splitReference(ref: string): { name: string; tag: string } {
  if (ref.includes("@")) return { name: ref, tag: "" };
  const colon = ref.lastIndexOf(":");
  if (colon > ref.lastIndexOf("/")) return { name: ref.slice(0, colon), tag: ref.slice(colon + 1) };
  return { name: ref, tag: "latest" };
}

/** The registry host of a reference whose first component is one (`127.0.0.1:5000/x` → `127.0.0.1:5000`). */
export function registryHost(ref: string): string {
  const first = ref.split("/")[0]!;
  return ref.includes("/") && (/[.:]/.test(first) || first === "localhost") ? first : "docker.io";
}

function authConfig(ref: string, auth: RegistryAuth | undefined) {
  return auth && { username: auth.username, password: auth.password, serveraddress: registryHost(ref) };
}

/** Adds the name `ref` to a local image. */
export async function tagImage(image: string, ref: string): Promise<void> {
  const { name, tag } = splitReference(ref);
  await docker.getImage(image).tag({ repo: name, tag });
}

/** Pushes `ref` (already tagged locally) and returns the digest the registry gave it. */
export async function pushImage(ref: string, auth?: RegistryAuth): Promise<string> {
  const { name, tag } = splitReference(ref);
  const stream = await docker.getImage(name).push({ tag, authconfig: authConfig(ref, auth) });
  const events = await readJsonStream(stream, `docker push of ${ref}`);
  for (const event of events) {
    const digest = pushedDigest(event, tag);
    if (digest) return digest;
  }
  throw new Error(`docker push of ${ref} ended without a digest`);
}

/** Pulls `ref` from its registry (credentials only in the X-Registry-Auth header). */
export async function pullImage(ref: string, auth?: RegistryAuth): Promise<void> {
  const { name, tag } = splitReference(ref);
  const options = tag ? { fromImage: name, tag } : { fromImage: name };
  // createImage(auth, options) rather than pull(ref, { authconfig }): the latter also puts the password in the query string.
  const stream = await docker.createImage(authConfig(ref, auth), options);
  await readJsonStream(stream, `docker pull of ${ref}`);
}

/** Splits the multiplexed log of a container without a TTY into stdout and stderr. */
function demux(buffer: Buffer): { stdout: string; stderr: string } {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let at = 0;
  while (at + 8 <= buffer.length) {
    const size = buffer.readUInt32BE(at + 4);
    const frame = buffer.subarray(at + 8, at + 8 + size);
    (buffer[at] === 2 ? err : out).push(frame);
    at += 8 + size;
  }
  return { stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") };
}

/**
 * Runs `cmd` in a new container of `image` (no network), waits for it and returns
 * its stdout; throws with stderr when it exits non-zero. The container is removed.
 */
export async function runAndCapture(image: string, cmd: string[]): Promise<string> {
  const container = await docker.createContainer({
    Image: image,
    Cmd: cmd,
    Tty: false,
    Labels: { [E2E_LABEL]: "true" },
    HostConfig: { NetworkMode: "none" },
  });
  try {
    await container.start();
    const { StatusCode } = (await container.wait()) as { StatusCode: number };
    const { stdout, stderr } = demux((await container.logs({ stdout: true, stderr: true, follow: false })) as Buffer);
    if (StatusCode !== 0) {
      throw new Error(`${JSON.stringify(cmd)} in ${image} exited ${StatusCode}: ${stderr.trim() || stdout.trim()}`);
    }
    return stdout;
  } finally {
    await container.remove({ force: true }).catch(() => undefined);
  }
}

/** Removes a local image (forced); an image that is already gone is fine. */
export async function removeImage(ref: string): Promise<void> {
  try {
    await docker.getImage(ref).remove({ force: true });
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  }
}

/**
 * The processes on this host whose command line contains `text` (e.g. a marker echoed by a RUN step). Either builder's
 * RUN steps are processes on the Engine's host: the classic builder's in containers, BuildKit's in runc sandboxes that
 * `docker ps` does not list. The Engine here is local, so its processes are this host's.
 */
export function runStepsWith(text: string): Array<{ pid: number; command: string }> {
  const found: Array<{ pid: number; command: string }> = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let command: string;
    try {
      command = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").join(" ").trim();
    } catch {
      continue; // gone meanwhile, or not ours to read
    }
    if (command.includes(text)) found.push({ pid: Number(entry), command });
  }
  return found;
}

/** Docker's name for this machine's CPU, as images record it. */
function dockerArchitecture(): string {
  return ({ x64: "amd64", arm64: "arm64", arm: "arm", ppc64: "ppc64le", s390x: "s390x" } as Record<string, string>)[process.arch] ?? process.arch;
}

/**
 * Loads an image as `docker load` takes one (an archive in `docker save`'s
 * layout), with the creation time its config says: how the tests make an image
 * that looks as old as a leftover from long ago. One layer holding `files`.
 */
export async function loadImage(tag: string, files: Record<string, string>, created: Date): Promise<string> {
  const layer = pack();
  for (const [name, content] of Object.entries(files)) layer.entry({ name, mode: 0o644, mtime: created }, content);
  layer.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of layer) chunks.push(chunk as Buffer);
  const layerTar = Buffer.concat(chunks);
  const layerDigest = createHash("sha256").update(layerTar).digest("hex");
  const config = Buffer.from(
    JSON.stringify({
      architecture: dockerArchitecture(),
      os: "linux",
      created: created.toISOString(),
      config: { Labels: { [E2E_LABEL]: "true" } },
      rootfs: { type: "layers", diff_ids: [`sha256:${layerDigest}`] },
      history: [{ created: created.toISOString(), created_by: "harness loadImage" }],
    }),
  );
  const configName = `${createHash("sha256").update(config).digest("hex")}.json`;
  const manifest = Buffer.from(JSON.stringify([{ Config: configName, RepoTags: [tag], Layers: [`${layerDigest}/layer.tar`] }]));
  const archive = pack();
  archive.entry({ name: configName }, config);
  archive.entry({ name: `${layerDigest}/layer.tar` }, layerTar);
  archive.entry({ name: "manifest.json" }, manifest);
  archive.finalize();
  const stream = await docker.loadImage(archive as unknown as NodeJS.ReadableStream, { quiet: true });
  await readJsonStream(stream, `docker load of ${tag}`);
  return `sha256:${createHash("sha256").update(config).digest("hex")}`;
}

/** The local image's id, or undefined when no image has this name. */
export async function imageId(ref: string): Promise<string | undefined> {
  try {
    return (await docker.getImage(ref).inspect()).Id;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return undefined;
    throw error;
  }
}

export interface LayerEntry {
  /** As the layer's tar names it, without a leading "./" or trailing "/". */
  name: string;
  type: string;
  /** Permission bits (the layer's tar also carries the file type in this field). */
  mode: number;
  linkname?: string;
  size: number;
}

/** Reads a tar stream's entries; `onEntry` reads an entry's data to its end and resolves true, or leaves it (false) to be dropped. */
async function tarEntries(stream: Readable, onEntry: (name: string, data: Readable) => Promise<boolean>): Promise<void> {
  const reader = extract();
  const done = new Promise<void>((resolve, reject) => {
    reader.on("entry", (header, data, next) => {
      onEntry(header.name, data)
        .then((consumed) => {
          if (consumed) return next();
          data.on("end", () => next());
          data.resume();
        })
        .catch(reject);
    });
    reader.on("finish", () => resolve());
    reader.on("error", reject);
    stream.on("error", reject);
  });
  stream.pipe(reader);
  await done;
}

/**
 * Every file, folder, link and device in the image's layers, in layer order, read from `docker save` (the image as
 * the Engine stores it, not as a container would show it): what a build put in the image, and nothing else.
 */
export async function imageLayerEntries(ref: string): Promise<LayerEntry[]> {
  const layers = new Map<string, LayerEntry[]>();
  let manifest: { Layers: string[] }[] = [];
  const saved = (await docker.getImage(ref).get()) as unknown as Readable;
  await tarEntries(saved, async (name, data) => {
    if (name === "manifest.json") {
      const chunks: Buffer[] = [];
      for await (const chunk of data) chunks.push(chunk as Buffer);
      manifest = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { Layers: string[] }[];
      return true;
    }
    if (name.endsWith("layer.tar")) {
      const entries: LayerEntry[] = [];
      const reader = extract();
      const read = new Promise<void>((resolve, reject) => {
        reader.on("entry", (header, body, next) => {
          const entry: LayerEntry = { name: header.name.replace(/^\.\//, "").replace(/\/$/, ""), type: header.type ?? "file", mode: (header.mode ?? 0) & 0o7777, size: header.size ?? 0 };
          if (header.linkname) entry.linkname = header.linkname;
          entries.push(entry);
          body.resume();
          body.on("end", () => next());
        });
        reader.on("finish", () => resolve());
        reader.on("error", reject);
      });
      data.pipe(reader);
      await read;
      layers.set(name, entries);
      return true;
    }
    return false;
  });
  return (manifest[0]?.Layers ?? []).flatMap((layer) => layers.get(layer) ?? []);
}

/** Removes every image carrying `label` (`key=value`): for images a test made and left untagged, such as a build's first stage. */
export async function removeImagesLabelled(label: string): Promise<void> {
  const images = await docker.listImages({ all: true, filters: { label: [label] } });
  for (const image of images) {
    await docker.getImage(image.Id).remove({ force: true }).catch((error: { statusCode?: number }) => {
      if (error.statusCode !== 404 && error.statusCode !== 409) throw error;
    });
  }
}
