/**
 * `dockify`, the command a user builds with (package.json `bin`, bundled
 * into dist/ by scripts/bundle.ts): build, status, logs, cancel, ls.
 */
import { Command, Option } from "commander";
import { AGENT_VERSION } from "../agent/config";
import { buildCommand } from "./commands/build";
import { cancelCommand, listCommand, logsCommand, statusCommand } from "./commands/inspect";
import { CliError } from "./errors";
import { PASSWORD_ENV } from "./credentials";
import { configFilePath } from "./settings";

/** A repeatable option's values; no default given, so that help does not show an empty list. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

// `dockify ls | head -3`: a reader that stops reading is not an error of ours.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code !== "EPIPE") throw error;
  process.exit(process.exitCode ?? 0);
});

const CONFIG_HELP = `
Configuration:
  DOCKIFY_URL     the Worker, e.g. https://dockify.example.workers.dev
  DOCKIFY_TOKEN   your API token
  Either in the environment or as KEY=value lines in ${configFilePath(process.env)}
  ($DOCKIFY_CONFIG names another file; the environment wins; the file must not be
  readable by every user: chmod 600).`;

const json = () => new Option("--json", "print the API's JSON (shapes in shared/api.ts) instead of text");

const program = new Command("dockify")
  .description("Build Docker images remotely with Dockify: send a folder, watch the build, get the pushed image")
  .version(AGENT_VERSION, "-V, --version", "print the version")
  .showHelpAfterError()
  .addHelpText("after", CONFIG_HELP);

program
  .command("build")
  .description("build DIR (default .) remotely, push the image, and print REF@digest on standard output")
  .argument("[dir]", "the build context: a folder, filtered by its .dockerignore as docker build does", ".")
  .option("-t, --tag <ref>", "image to push, registry/user/repo:tag (Hub: user/repo:tag); repeat to push more (the first is the build's image, the rest also_push)", collect)
  .option("-f, --file <path>", "the Dockerfile (default DIR/Dockerfile); a path outside DIR is sent with the context")
  .option("--build-arg <key=value>", "a build argument; a bare KEY takes its value from the environment (repeatable)", collect)
  .option("--target <stage>", "build this stage of a multi-stage Dockerfile")
  .option("--platform <os/arch>", "build for this platform, e.g. linux/arm64 (waits for an agent whose Engine builds it)")
  .option("--no-cache", "build every step afresh")
  .option("--secret <spec>", "id=ID,src=FILE or id=ID,env=VAR (id=ID alone: the variable ID) for RUN --mount=type=secret,id=ID (repeatable)", collect)
  .option("--label <key=value>", "build only on an agent with this label (Dockify's agent labels; repeatable)", collect)
  .option("--password-stdin", "read the push registry's password from standard input")
  .option("-q, --quiet", "do not show the build log")
  .option("-d, --detach", "submit and print the build's id; do not follow it")
  .addOption(json())
  .addHelpText(
    "after",
    `
Output: the log and progress go to standard error; standard output gets each pushed
REF@digest (or the final record with --json, or the id with --detach).
Exit codes: 0 pushed; 1 the build failed or was canceled, or a request failed;
2 a usage or configuration mistake; 130 interrupted.

A large context goes up in parts; if a run fails while sending it, the same command
run again (within a day) sends only the parts that are missing.

Ctrl-C (or SIGTERM): while the context uploads, stops and builds nothing. Once the build
exists, asks the Worker to cancel it and shows the log until it has ended canceled.
A second Ctrl-C exits at once (the cancel already sent still goes ahead).

Registry logins (sent in headers only, never printed):
  push registry  --password-stdin, else $${PASSWORD_ENV}, else your Docker login for
                 its host (the login name is the reference's first path component)
  other hosts    your Docker logins for the registries the Dockerfile pulls from and
                 the other -t references push to
  Docker logins: $DOCKER_CONFIG/config.json or ~/.docker/config.json ("auths", and
  credential helpers: "credsStore", "credHelpers"), as docker login writes them.

Example:
  dockify build -t registry.example.com/alice/web:1 --build-arg VERSION=1 .`,
  )
  .action(async (dir: string, options: Record<string, unknown>) => {
    await buildCommand(dir, {
      tag: (options.tag as string[] | undefined) ?? [],
      file: options.file as string | undefined,
      buildArg: (options.buildArg as string[] | undefined) ?? [],
      target: options.target as string | undefined,
      platform: options.platform as string | undefined,
      noCache: options.cache === false,
      secret: (options.secret as string[] | undefined) ?? [],
      label: (options.label as string[] | undefined) ?? [],
      passwordStdin: options.passwordStdin === true,
      quiet: options.quiet === true,
      detach: options.detach === true,
      json: options.json === true,
    });
  });

program
  .command("status")
  .description("show a build: state, image, digest, or the step that failed and why")
  .argument("<id>", "the build's id")
  .addOption(json())
  .action(statusCommand);

program
  .command("logs")
  .description("print a build's log; with -f, follow it live until the build ends (exit code 1 if it did not succeed)")
  .argument("<id>", "the build's id")
  .option("-f, --follow", "follow the live log (Ctrl-C stops following; the build goes on)")
  .addOption(new Option("--json", 'with -f, each message as a JSON line ({"id","event","data"}, as shared/api.ts logStreamMessage); without, {"id","lines"}'))
  .action((id: string, options: { follow?: boolean; json?: boolean }) => logsCommand(id, { follow: options.follow === true, json: options.json === true }));

program
  .command("cancel")
  .description("cancel a build: a queued one at once, a running one as soon as its agent stops it")
  .argument("<id>", "the build's id")
  .addOption(json())
  .action(cancelCommand);

program
  .command("ls")
  .description("list your builds, newest first")
  .option("-n, --limit <n>", "how many (1-100)", "20")
  .option("--cursor <cursor>", "the next page, as the previous page printed it")
  .addOption(json())
  .action(listCommand);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (!(error instanceof CliError)) throw error;
  process.stderr.write(`dockify: ${error.message}\n`);
  process.exitCode = error.exitCode;
}
