/**
 * `dockify-agent doctor`: checks this host before it takes builds, one line
 * per check saying what passed and how to fix what failed. The host can take
 * builds when no check failed (the exit code says so).
 */
import Docker from "dockerode";
import type { BuilderName } from "../../shared/protocol";
import type { EngineInfo } from "../engine";
import { ConfigError, loadConfig, type AgentConfig } from "../config";
import { describeError } from "../errors";
import { formatCheck, hostCanBuild, type CheckResult } from "./check";
import { remoteEngine } from "../host/engine-disk";
import { checkBuilder, checkDisk, checkEngine, checkLimits, engineLimitsOf } from "./engine-checks";
import { cgroupControllers } from "./kernel";
import { checkWorker } from "./worker-check";

export interface DoctorOptions {
  /** The environment the agent would run with (a config file already applied). */
  env: NodeJS.ProcessEnv;
  /** Problems found before the settings were read (names in the config file that are not settings). */
  fileProblems: string[];
  /** Where the settings came from, for the config line. */
  source: string;
  print: (line: string) => void;
}

function skipped(name: string, because: string): CheckResult {
  return { name, state: "skip", message: `not checked: ${because}` };
}

function checkConfig(options: DoctorOptions): { result: CheckResult; config?: AgentConfig } {
  const warnings: string[] = [];
  const problems = [...options.fileProblems];
  let config: AgentConfig | undefined;
  try {
    config = loadConfig(options.env, (line) => warnings.push(line));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  if (problems.length || !config) {
    const message = problems.map((line) => line.trim()).join("; ");
    return { result: { name: "config", state: "fail", message, fix: "set these as README's Configuration says (environment or --config file)" } };
  }
  const valid = `settings are valid (${options.source})`;
  if (warnings.length) return { result: { name: "config", state: "warn", message: `${valid}; ${warnings.join("; ")}` }, config };
  return { result: { name: "config", state: "ok", message: valid }, config };
}

/** Runs every check in order, printing each line as it is known; returns the results. */
export async function doctor(options: DoctorOptions): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const report = (result: CheckResult) => {
    results.push(result);
    options.print(formatCheck(result));
  };

  const { result: configResult, config } = checkConfig(options);
  report(configResult);

  let docker: Docker | undefined;
  let engine: EngineInfo | undefined;
  try {
    // dockerode reads DOCKER_HOST itself, and throws here when it is malformed.
    docker = new Docker();
  } catch (error) {
    report({ name: "engine", state: "fail", message: `DOCKER_HOST=${options.env.DOCKER_HOST} is not usable: ${describeError(error)}`, fix: "use unix:///path/docker.sock or tcp://host:port" });
  }
  if (docker) {
    const checked = await checkEngine(docker, options.env);
    report(checked.result);
    engine = checked.engine;
  }

  const noEngine = "the Docker Engine does not answer";
  const noConfig = "the settings are invalid";
  let builder: BuilderName | undefined;
  if (!docker || !engine) report(skipped("builder", noEngine));
  else if (!config) report(skipped("builder", noConfig));
  else {
    const checked = await checkBuilder(docker, engine, config);
    report(checked.result);
    builder = checked.builder;
  }
  report(config ? await checkWorker(config) : skipped("worker", noConfig));
  if (!docker || !engine) {
    report(skipped("disk", noEngine));
    report(skipped("limits", noEngine));
  } else if (!config) {
    report(skipped("disk", noConfig));
    report(skipped("limits", noConfig));
  } else {
    const failed = (name: string) => (error: unknown): CheckResult => ({ name, state: "fail", message: `the Engine stopped answering: ${describeError(error)}` });
    report(await checkDisk(docker, config.disk).catch(failed("disk")));
    const kernel = remoteEngine(docker) ? undefined : await cgroupControllers();
    const isolation = config.isolation;
    const chosen = builder;
    if (chosen) report(await engineLimitsOf(docker).then((limits) => checkLimits(isolation, limits, kernel, chosen), failed("limits")));
    else report(skipped("limits", "the agent would refuse to start with these settings (builder)"));
  }

  const failed = results.filter(({ state }) => state === "fail").length;
  options.print(hostCanBuild(results) ? "this host can take builds" : `${failed} check(s) failed: this host cannot take builds yet`);
  return results;
}
