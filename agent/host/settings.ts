/**
 * The agent's settings for its host's upkeep: disk thresholds (disk-policy.ts)
 * and the metrics listener (metrics-server.ts). Fields of the one settings
 * schema in config.ts, kept here with the checks across them.
 */
import { z } from "zod";
import {
  certainlyAbove,
  DEFAULT_PRUNE_BELOW,
  DEFAULT_STOP_BELOW,
  formatThreshold,
  parseDiskThreshold,
  type DiskThreshold,
  type DiskThresholds,
} from "./disk-policy";
import { parseListenAddress, type ListenAddress } from "./listen-address";

export interface HostConfig {
  /** Free space where the Engine keeps its data: below one the agent prunes, below the other it takes no builds. */
  disk: DiskThresholds;
  /** The local listener for /healthz and /metrics; undefined: none. */
  metrics: ListenAddress | undefined;
}

const ALLOW_REMOTE = "DOCKIFY_AGENT_METRICS_ALLOW_REMOTE";
const REMOTE_REFUSED =
  "is not a loopback address: the listener has no authentication, so anyone who reaches it reads the agent's metrics; " +
  `set ${ALLOW_REMOTE}=true as well if you mean it`;

function thresholdFromText(text: string, ctx: z.RefinementCtx<string>): DiskThreshold {
  const threshold = parseDiskThreshold(text);
  if (threshold) return threshold;
  ctx.issues.push({ code: "custom", input: text, message: "must be a share of the disk such as 15% (under 100%), or a size such as 10g (0: never)" });
  return { bytes: 0 };
}

function listenAddressFromText(text: string, ctx: z.RefinementCtx<string>): ListenAddress {
  const parsed = parseListenAddress(text);
  if (!("error" in parsed)) return parsed;
  ctx.issues.push({ code: "custom", input: text, message: parsed.error });
  return { host: "", port: 0, loopback: true };
}

export const hostFields = {
  DOCKIFY_AGENT_PRUNE_BELOW: z.string().default(DEFAULT_PRUNE_BELOW).transform(thresholdFromText),
  DOCKIFY_AGENT_STOP_BELOW: z.string().default(DEFAULT_STOP_BELOW).transform(thresholdFromText),
  DOCKIFY_AGENT_METRICS_ADDR: z.string().transform(listenAddressFromText).optional(),
  [ALLOW_REMOTE]: z
    .enum(["true", "false"], { error: 'must be "true" or "false"' })
    .default("false")
    .transform((text) => text === "true"),
};
export const HOST_SETTINGS: readonly string[] = Object.keys(hostFields);

type HostSettings = z.output<z.ZodObject<typeof hostFields>>;

/** What no single field can say: the agent prunes before it stops; a listener other hosts reach is a choice made on purpose. */
export function checkHostSettings(settings: HostSettings, ctx: z.RefinementCtx<HostSettings>): void {
  const { DOCKIFY_AGENT_PRUNE_BELOW: prune, DOCKIFY_AGENT_STOP_BELOW: stop, DOCKIFY_AGENT_METRICS_ADDR: metrics } = settings;
  if (certainlyAbove(stop, prune)) {
    const message = `must not be above DOCKIFY_AGENT_PRUNE_BELOW (${formatThreshold(prune)}): the agent prunes before it stops taking builds`;
    ctx.issues.push({ code: "custom", input: stop, path: ["DOCKIFY_AGENT_STOP_BELOW"], message });
  }
  if (metrics && !metrics.loopback && !settings[ALLOW_REMOTE]) {
    ctx.issues.push({ code: "custom", input: metrics, path: ["DOCKIFY_AGENT_METRICS_ADDR"], message: REMOTE_REFUSED });
  }
}

export function hostConfig(settings: HostSettings): HostConfig {
  return {
    disk: { pruneBelow: settings.DOCKIFY_AGENT_PRUNE_BELOW, stopBelow: settings.DOCKIFY_AGENT_STOP_BELOW },
    metrics: settings.DOCKIFY_AGENT_METRICS_ADDR,
  };
}
