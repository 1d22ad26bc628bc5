/**
 * The doctor's check of the Worker: reachable, and willing to take this agent
 * (its token, its version, its labels), asked through `GET /agent/ping`, which
 * never connects the agent to a pool and so can never hand it a job.
 */
import { errorBody } from "../../shared/api";
import { formatLabels } from "../../shared/labels";
import { AGENT_PING_PATH, agentPing } from "../../shared/protocol";
import type { AgentConfig } from "../config";
import { describeError } from "../errors";
import type { CheckResult } from "./check";

const PING_TIMEOUT_MS = 10_000;

/** What to do about each refusal the ping route answers with (worker/routes/agents.ts). */
const FIXES: Record<number, string> = {
  401: "check DOCKIFY_AGENT_TOKEN (or the file DOCKIFY_AGENT_TOKEN_FILE names) against the Worker's DOCKIFY_AGENT_TOKENS",
  403: "ask the Worker's operator to grant these labels to this agent's token (DOCKIFY_AGENT_TOKEN_LABELS), or drop them from DOCKIFY_AGENT_LABELS",
  426: "upgrade the agent (npm install -g with the newer package), then restart it",
  503: "the Worker's operator must fix the variable it names",
};

export async function checkWorker(config: Pick<AgentConfig, "workerUrl" | "token" | "version" | "labels">): Promise<CheckResult> {
  const query = new URLSearchParams({ version: config.version, labels: formatLabels(config.labels) });
  const url = `${config.workerUrl}${AGENT_PING_PATH}?${query}`;
  let response: Response;
  try {
    response = await fetch(url, { headers: { Authorization: `Bearer ${config.token}` }, signal: AbortSignal.timeout(PING_TIMEOUT_MS) });
  } catch (error) {
    return {
      name: "worker",
      state: "fail",
      message: `cannot reach the Worker at ${config.workerUrl}: ${describeError(error)}`,
      fix: "check DOCKIFY_URL, and that this host reaches it (DNS, proxy, firewall)",
    };
  }
  const body: unknown = await response.json().catch(() => undefined);
  if (response.ok) {
    const ping = agentPing.safeParse(body);
    if (ping.success) {
      const minimum = ping.data.min_agent_version ? `it takes agents from version ${ping.data.min_agent_version}` : "it takes any agent version";
      return { name: "worker", state: "ok", message: `the Worker at ${config.workerUrl} accepts this agent (pool '${ping.data.pool}'; ${minimum}, this is ${config.version})` };
    }
  }
  const refusal = errorBody.safeParse(body);
  if (!refusal.success || response.status === 404) {
    const fix = "check that DOCKIFY_URL is the Dockify Worker's base URL, and that the Worker is as new as this agent";
    return { name: "worker", state: "fail", message: `${config.workerUrl} answered ${AGENT_PING_PATH} with HTTP ${response.status}, not as a Dockify Worker`, fix };
  }
  const fix = FIXES[response.status] ?? "see the Worker's answer";
  return { name: "worker", state: "fail", message: `the Worker refused this agent (HTTP ${response.status}): ${refusal.data.error}`, fix };
}
