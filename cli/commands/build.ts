/**
 * `dockify build [DIR]`: pack the folder (Docker's ignore rules), send it,
 * submit the build, follow its live log, and report what was pushed.
 *
 * Standard output gets only the result (each pushed `reference@digest`, or
 * the record with --json); the log and progress go to standard error, so
 * `ref=$(dockify build -t … .)` works. Exit code 0: pushed; 1: the build
 * failed or was canceled, or a request failed; 2: a usage or configuration
 * mistake; 130: interrupted.
 *
 * Ctrl-C (or SIGTERM, as a CI runner sends it): before the build exists, the
 * upload stops and nothing is built; once it exists, the CLI asks the Worker
 * to cancel it and keeps showing the log until it has ended. A second Ctrl-C
 * exits at once; the cancel already sent still goes ahead.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Build } from "../../shared/api";
import { formatApproxByteSize } from "../../shared/byte-size";
import { DockifyClient } from "../client";
import { packContext, type PackedContext } from "../context/pack";
import { buildArgs, buildRequest, pushTarget, readSecrets, type BuildFlags } from "../build-request";
import { DockerConfigLogins, pushLogin, readPasswordStdin } from "../credentials";
import { CliError, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE } from "../errors";
import { entryText, followLog } from "../follow";
import { formatRate, uploadProgress } from "../progress";
import { dockerfileRegistries, otherLogins, platformOf } from "../registries";
import { loadSettings } from "../settings";
import { submitBuild } from "../upload";
import { describeOutcome } from "../views";

export interface BuildCommandOptions extends BuildFlags {
  file?: string;
  passwordStdin: boolean;
  json: boolean;
  quiet: boolean;
  detach: boolean;
}

/** While the build is queued, how often its record is read to say why it waits. */
const WAITING_CHECK_MS = 5_000;

function note(text: string): void {
  process.stderr.write(`${text}\n`);
}

/** What Ctrl-C does now: before the build exists it stops the upload; after, it cancels the build. */
class Interrupts {
  readonly upload = new AbortController();
  readonly follow = new AbortController();
  #count = 0;
  #build: string | undefined;
  #bodySent = false;
  #cancelWanted = false;
  #cancel: ((id: string) => void) | undefined;

  constructor() {
    process.on("SIGINT", this.#handle);
    process.on("SIGTERM", this.#handle);
  }

  get interrupted(): boolean {
    return this.#count > 0;
  }

  /** The whole body is on its way: an interrupt now may find a build made, so it waits for the answer to cancel it. */
  bodySent(): void {
    this.#bodySent = true;
  }

  /** The build exists: an interrupt cancels it (at once, if one came while it was being made). */
  submitted(id: string, cancel: (id: string) => void): void {
    this.#build = id;
    this.#cancel = cancel;
    if (this.#cancelWanted) cancel(id);
  }

  dispose(): void {
    process.off("SIGINT", this.#handle);
    process.off("SIGTERM", this.#handle);
  }

  #handle = () => {
    this.#count++;
    if (this.#count > 1) {
      note(this.#build ? `\nexiting; build ${this.#build} is being canceled (see: dockify status ${this.#build})` : "\nexiting");
      process.exit(EXIT_INTERRUPTED);
    }
    if (this.#build) {
      note(`\ncanceling build ${this.#build}… (Ctrl-C again to exit without waiting)`);
      this.#cancel!(this.#build);
    } else if (this.#bodySent) {
      note("\ninterrupted: the build will be canceled as soon as the Worker has answered (Ctrl-C again to exit at once)");
      this.#cancelWanted = true;
    } else {
      note("\ninterrupted: the upload stops and nothing is built");
      this.upload.abort(new CliError("interrupted", EXIT_INTERRUPTED));
    }
  };
}

function readDockerfileText(packed: PackedContext, dir: string, file: string | undefined): string {
  try {
    return readFileSync(file ?? join(dir, packed.dockerfile), "utf8");
  } catch {
    return "";
  }
}

export async function buildCommand(dir: string, options: BuildCommandOptions): Promise<void> {
  const env = process.env;
  const settings = loadSettings(env);
  const client = new DockifyClient(settings);
  const password = options.passwordStdin ? await readPasswordStdin() : undefined;
  const secrets = readSecrets(options.secret, env);
  const dockerConfig = new DockerConfigLogins(env);
  // Every -t is checked before anything is packed.
  const [first, ...more] = options.tag;
  if (first === undefined) throw new CliError("name the image to push with -t REF (e.g. -t registry.example.com/alice/web:1)", EXIT_USAGE);
  const target = pushTarget(first);
  const alsoPush = more.map(pushTarget);

  const interrupts = new Interrupts();
  let packed: PackedContext | undefined;
  try {
    note(`packing ${dir}…`);
    packed = await packContext({ dir, dockerfile: options.file, onSkip: (path, reason) => note(`skipped ${path}: ${reason}`) });
    // Packing is not interrupted midway; an interrupt during it stops here, before anything is sent.
    interrupts.upload.signal.throwIfAborted();
    note(
      `context: ${packed.entries} entries, ${formatApproxByteSize(packed.tarBytes)} (${formatApproxByteSize(packed.bytes)} gzip-compressed)` +
        (packed.ignoreFile ? `, ${packed.ignoreFile} applied` : ""),
    );

    const login = pushLogin(target.registry, target.user_name, { passwordStdin: password, env, dockerConfig });
    const args = Object.fromEntries(buildArgs(options.buildArg, env).map((arg) => [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]));
    const hosts = [
      ...dockerfileRegistries(readDockerfileText(packed, dir, options.file), args, platformOf(options.platform)),
      ...alsoPush.map((other) => other.registry),
    ];
    const logins = otherLogins(hosts, target.registry, dockerConfig);
    const request = buildRequest({ flags: options, dockerfile: packed.dockerfile, pushLogin: login, otherLogins: logins, secrets, env });
    if (login) note(`logging in to ${target.registry} as ${target.user_name} (password from ${login.source})`);
    else note(`no login for ${target.registry} found: pushing without one (see dockify build --help)`);
    for (const [host, other] of logins) note(`logging in to ${host} as ${other.username} (from ${other.source})`);

    const progress = uploadProgress("uploading", packed.bytes);
    const started = Date.now();
    let sentAt: number | undefined;
    let build: Build;
    try {
      build = await submitBuild({
        client,
        packed,
        query: request.query,
        headers: request.headers,
        onProgress: (sent) => progress.update(sent),
        onRetry: (what, reason) => note(`${what} failed (${reason}); sending it again`),
        onBodySent: () => {
          sentAt = Date.now();
          interrupts.bodySent();
        },
        onResume: (id, arrived, parts) => note(`resuming upload ${id}: ${arrived} of ${parts} part(s) are there already`),
        onKept: (id) => note(`the upload ${id} is kept: run the same command again (within a day) to send only what is missing`),
        onChecking: () => {
          progress.stop();
          note("sent; the Worker is checking the context…");
        },
        signal: interrupts.upload.signal,
      });
    } finally {
      progress.stop();
    }
    const seconds = Math.max(((sentAt ?? Date.now()) - started) / 1000, 0.001);
    note(`uploaded ${formatApproxByteSize(packed.bytes)} in ${seconds.toFixed(1)} s (${formatRate(packed.bytes / seconds)})`);
    packed.dispose();
    packed = undefined;
    note(`build ${build.id}: ${build.image_reference}`);

    if (options.detach) {
      interrupts.dispose();
      process.stdout.write(options.json ? `${JSON.stringify(build)}\n` : `${build.id}\n`);
      return;
    }

    let canceled = false;
    interrupts.submitted(build.id, (id) => {
      canceled = true;
      client.cancel(id).catch((error: unknown) => note(`could not cancel ${id}: ${(error as Error).message}`));
    });
    const outcome = await follow(client, build, options);
    interrupts.dispose();
    report(outcome, options);
    if (canceled || interrupts.interrupted) process.exitCode = EXIT_INTERRUPTED;
  } finally {
    packed?.dispose();
    interrupts.dispose();
  }
}

async function follow(client: DockifyClient, build: Build, options: BuildCommandOptions): Promise<Build> {
  let started = build.state !== "queued";
  let waiting: string | null = null;
  const sayWaiting = (record: Build) => {
    if (record.state === "queued" && record.waiting && record.waiting !== waiting) note(`waiting: ${record.waiting}`);
    waiting = record.waiting;
  };
  sayWaiting(build);
  const timer = setInterval(() => {
    if (started) return;
    client.build(build.id).then(sayWaiting, () => undefined);
  }, WAITING_CHECK_MS);
  try {
    const end = await followLog(client, build.id, {
      onEntry: (message) => {
        if (message.event === "event" && message.data.type === "assigned") started = true;
        if (!options.quiet) note(entryText(message));
      },
      onReconnect: (reason) => note(`(live log: ${reason}; reconnecting)`),
    });
    // Without a signal, following ends only at the build's end.
    return end!.data;
  } finally {
    clearInterval(timer);
  }
}

function report(final: Build, options: BuildCommandOptions): void {
  if (options.json) process.stdout.write(`${JSON.stringify(final)}\n`);
  if (final.state === "succeeded") {
    // Every reference pushed, the build's own first, each with the digest its registry stored.
    const lines = final.pushed.map(({ reference, digest }) => `${reference}@${digest}`);
    if (!options.json) process.stdout.write(`${lines.join("\n")}\n`);
    return;
  }
  note(describeOutcome(final));
  process.exitCode = EXIT_FAILURE;
}
