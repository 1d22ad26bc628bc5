/**
 * `dockify-agent`, the installed command (package.json `bin`, bundled into
 * dist/ by scripts/bundle.ts): `start` runs the agent (main.ts), `doctor`
 * checks the host, `--version` prints the agent's version.
 */
import { Command } from "commander";
import { applyConfigFile, readConfigFile, unknownSettings } from "./cli/config-file";
import { AGENT_VERSION, ConfigError, loadConfig } from "./config";
import { doctor } from "./doctor/doctor";
import { hostCanBuild } from "./doctor/check";
import { status } from "./status";

const EXIT_CONFIG = 2;
const EXIT_UNHEALTHY = 1;

interface ConfigOption {
  config?: string;
}

/** Applies `--config` to this process's environment; the names in it that are not settings, as problem lines. */
function withConfigFile(path: string | undefined): { fileProblems: string[]; source: string } {
  if (path === undefined) return { fileProblems: [], source: "from the environment" };
  const file = readConfigFile(path);
  const overridden = applyConfigFile(file, process.env);
  if (overridden.length) status(`the environment overrides ${overridden.join(", ")} of ${path}`);
  return { fileProblems: unknownSettings(file), source: `from ${path} and the environment` };
}

function exitOnConfigError(error: unknown): never {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(EXIT_CONFIG);
}

// `dockify-agent doctor | head -3`: a reader that stops reading is not an error of the agent's.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code !== "EPIPE") throw error;
  process.exit(process.exitCode ?? 0);
});

const program = new Command("dockify-agent")
  .description("Dockify's build agent: builds and pushes the images a Dockify Worker assigns it, with this host's Docker Engine")
  .version(AGENT_VERSION, "-V, --version", "print the agent's version")
  .showHelpAfterError()
  .addHelpText("after", "\nSettings come from the environment (DOCKIFY_URL, DOCKIFY_AGENT_TOKEN or _TOKEN_FILE, …) or --config; see README, \"Operating agents\".");

const configOption = ["-c, --config <file>", "read settings from a file of KEY=value lines; the environment overrides it"] as const;

program
  .command("start")
  .description("connect to the Worker and build what its pool assigns; SIGTERM or SIGINT drains (a second one exits at once)")
  .option(...configOption)
  .action(async ({ config }: ConfigOption) => {
    try {
      const { fileProblems } = withConfigFile(config);
      const problems = [...fileProblems];
      try {
        loadConfig(process.env);
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        problems.push(...error.problems);
      }
      if (problems.length) throw new ConfigError(problems);
    } catch (error) {
      exitOnConfigError(error);
    }
    // The agent runs as `npm run agent` runs it, now with the file's settings in its environment.
    await import("./main");
  });

program
  .command("doctor")
  .description("check this host: the Docker Engine, BuildKit, the Worker and the token, free disk, and the limits the kernel enforces")
  .option(...configOption)
  .action(async ({ config }: ConfigOption) => {
    let context: ReturnType<typeof withConfigFile>;
    try {
      context = withConfigFile(config);
    } catch (error) {
      exitOnConfigError(error);
    }
    const results = await doctor({ env: process.env, ...context, print: (line) => console.log(line) });
    process.exitCode = hostCanBuild(results) ? 0 : EXIT_UNHEALTHY;
  });

await program.parseAsync(process.argv);
