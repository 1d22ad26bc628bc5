/**
 * The build agent: `dockify-agent start` (cli.ts), or `npm run agent` in a
 * checkout. Settings come from the environment (see config.ts); Docker is found
 * the way the Docker CLI finds it (DOCKER_HOST).
 *
 * The first SIGTERM or SIGINT stops taking jobs and waits for the running ones
 * (DOCKIFY_AGENT_DRAIN_SECONDS); a second one exits at once without reporting,
 * and the pool's lease hands those jobs to another agent.
 */
import Docker from "dockerode";
import { removeLeftoverTags } from "./build-tags";
import type { Builder } from "./builders/builder";
import { BuildKitBuilder } from "./builders/buildkit/buildkit";
import { ClassicBuilder } from "./builders/classic";
import { ConfigError, loadConfig, type AgentConfig } from "./config";
import { chooseBuilder, inspectEngine, type EngineInfo } from "./engine";
import { describeError } from "./errors";
import { AgentMetrics } from "./host/metrics";
import { startUpkeep } from "./host/upkeep";
import { runJob } from "./job-runner";
import { status } from "./status";
import { PoolClient } from "./pool-client";

const EXIT_CONFIG = 2;
const EXIT_ABORTED = 1;

function configure(): { config: AgentConfig; docker: Docker } {
  try {
    // dockerode throws here when DOCKER_HOST is malformed.
    return { config: loadConfig(process.env, status), docker: new Docker() };
  } catch (error) {
    console.error(error instanceof ConfigError ? error.message : `invalid Docker settings: ${describeError(error)}`);
    process.exit(EXIT_CONFIG);
  }
}

const { config, docker } = configure();
let engine: EngineInfo;
try {
  engine = await inspectEngine(docker);
} catch (error) {
  console.error(`cannot reach the Docker Engine (DOCKER_HOST=${process.env.DOCKER_HOST ?? "unset"}): ${describeError(error)}`);
  process.exit(EXIT_CONFIG);
}

function builderFor(engine: EngineInfo): Builder {
  try {
    const { builder, why } = chooseBuilder(config.builder, engine, config.isolation);
    status(`building with ${builder === "buildkit" ? "BuildKit" : "the classic builder"} (${why})`);
    return builder === "buildkit"
      ? new BuildKitBuilder({ docker, isolation: config.isolation, cacheBytes: config.cacheBytes, status })
      : new ClassicBuilder({ docker, isolation: config.isolation });
  } catch (error) {
    console.error(error instanceof ConfigError ? error.message : describeError(error));
    process.exit(EXIT_CONFIG);
  }
}

const builder = builderFor(engine);
// Platform matching needs a platform; an Engine that names none the protocol knows is said on the agent's output.
const platform = engine.platform ?? { os: "linux", architecture: "amd64" };
if (!engine.platform) status("the Engine's OS/architecture is not one the pool knows; announcing none, and checking images for linux/amd64");
try {
  const removed = await removeLeftoverTags(docker, status);
  if (removed.length > 0) status(`removed ${removed.length} build tag(s) left by agents of this host that no longer run`);
} catch (error) {
  status(`could not look for build tags left by killed agents: ${describeError(error)}`);
}

// Read at scrape time only, once the client exists.
const metrics = new AgentMetrics({ ...config, running: () => client.running, paused: () => client.paused });
const client: PoolClient = new PoolClient({
  config,
  status,
  events: metrics,
  engine: { platform: engine.platform, builder: builder.name },
  runJob: (assignment, { send, signal }) =>
    runJob(assignment, {
      builder,
      platform,
      frontends: config.frontends,
      workerUrl: config.workerUrl,
      agentToken: config.token,
      buildTimeoutSeconds: config.buildTimeoutSeconds,
      send,
      signal,
      status,
      onContextBytes: (bytes) => metrics.contextBytes(bytes),
    }),
});
// Before connecting: an agent started on a full disk says so in its hello, and is given nothing.
const upkeep = await startUpkeep({ config, docker, client, metrics, status }).catch((error: unknown) => {
  console.error(describeError(error));
  process.exit(EXIT_CONFIG);
});
status(
  `agent ${config.name} ${config.version}: ${config.concurrency} slot(s), Engine ${engine.version} for ${engine.platform ? `${engine.platform.os}/${engine.platform.architecture}` : "an unknown platform"}, connecting to ${config.connectUrl}`,
);
client.start();

/** A second signal this soon after the first is the same stop relayed twice (npm, a process group), not a second request. */
const REPEAT_WINDOW_MS = 1_000;
let drainingSince: number | undefined;

async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (drainingSince !== undefined) {
    if (Date.now() - drainingSince < REPEAT_WINDOW_MS) return;
    status(`${signal} again: exiting now; the pool will requeue the ${client.running} running job(s)`);
    process.exit(EXIT_ABORTED);
  }
  drainingSince = Date.now();
  status(`${signal}: taking no more jobs; waiting up to ${config.drainMs / 1000}s for ${client.running} running job(s) (again to exit now)`);
  const drained = await client.drain(config.drainMs);
  if (!drained) status(`drain time is up; leaving ${client.running} job(s) to the pool's lease`);
  await upkeep.stop();
  await client.stop();
  status("stopped");
  process.exit(0);
}
process.on("SIGTERM", (signal) => void shutdown(signal));
process.on("SIGINT", (signal) => void shutdown(signal));
