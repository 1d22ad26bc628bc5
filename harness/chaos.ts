/**
 * The machinery of chaos runs, shared by the chaos e2e test and
 * bench/chaos.ts: agent slots whose process is killed with SIGKILL at random
 * and started again, and polling many builds until each is final, noting any
 * final answer that later changes.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { SeedStatus } from "../shared/api";
import type { AgentProcess } from "./agent";
import { ok, type ApiClient } from "./api";
import type { Stack, StackAgentOptions } from "./stack";

export function random(min: number, max: number): number {
  return min + Math.random() * (max - min);
}

export interface ChaosOptions {
  /** Agent processes kept running, one per slot. */
  slots: number;
  /** Options of each agent process (its name is the slot's and generation's). */
  agent?: StackAgentOptions;
  /** The pause before each kill, drawn uniformly, in ms. */
  killEveryMs: readonly [number, number];
  /** The pause between a kill and the new process, in ms. */
  restartAfterMs?: readonly [number, number];
  /** Kills stop after this long even if `stop()` was not called. */
  maxMs: number;
  /** Names agents `${prefix}-<slot>-<generation>`. */
  prefix?: string;
}

export interface Chaos {
  /** Every slot's current process. */
  readonly current: AgentProcess[];
  /** Resolves once every first process says it registered. */
  ready: Promise<void>;
  /** Starts killing. */
  start(): void;
  /** Stops killing (a killed slot is not restarted after this); resolves with the number of kills. */
  stop(): Promise<number>;
}

/** Agents in `slots` slots on `stack`; after `start()`, a random slot's process is killed every so often and replaced. */
export function agentChaos(stack: Stack, options: ChaosOptions): Chaos {
  const { prefix = "chaos", restartAfterMs = [200, 1_000] } = options;
  let generation = 0;
  const current: AgentProcess[] = [];
  const startSlot = (slot: number) => {
    current[slot] = stack.startAgent({ ...options.agent, name: `${prefix}-${slot + 1}-${++generation}` });
    return current[slot]!;
  };
  const ready = Promise.all(
    Array.from({ length: options.slots }, (_, slot) => startSlot(slot).waitForLine(/registered as agent/, { timeoutMs: 30_000 })),
  ).then(() => undefined);
  let stopped = false;
  let kills = 0;
  let loop: Promise<void> = Promise.resolve();
  return {
    current,
    ready,
    start() {
      loop = (async () => {
        const deadline = Date.now() + options.maxMs;
        while (!stopped && Date.now() < deadline) {
          await sleep(random(...options.killEveryMs));
          if (stopped) break;
          const slot = Math.floor(Math.random() * options.slots);
          const victim = current[slot]!;
          victim.kill("SIGKILL");
          await victim.exited;
          kills++;
          await sleep(random(...restartAfterMs));
          // Not restarted once the run is over.
          if (stopped) break;
          startSlot(slot);
        }
      })();
    },
    async stop() {
      stopped = true;
      await loop;
      return kills;
    },
  };
}

export interface Finals {
  /** Each build's first final answer, by id. */
  finals: Map<string, SeedStatus>;
  /** Final answers that later changed (to `processing` or to another answer): must stay empty. */
  flips: string[];
}

/**
 * Polls `GET /status/{id}` of every build until all are final or `deadlineMs` has passed. A request that gets no
 * answer at all (the Worker is being restarted) is asked again next round; any answer but 200 throws.
 */
export async function pollUntilFinal(api: ApiClient, ids: readonly string[], options: { deadlineMs: number; intervalMs: number }): Promise<Finals> {
  const finals = new Map<string, SeedStatus>();
  const flips: string[] = [];
  const deadline = Date.now() + options.deadlineMs;
  while (finals.size < ids.length && Date.now() < deadline) {
    await Promise.all(
      ids.map(async (id) => {
        const response = await api.status(id).catch(() => undefined);
        if (!response) return;
        const body = ok(response, 200);
        const first = finals.get(id);
        if (body.status === "processing") {
          if (first) flips.push(`${id}: ${JSON.stringify(first)} then processing`);
          return;
        }
        if (!first) finals.set(id, body);
        else if (JSON.stringify(first) !== JSON.stringify(body)) flips.push(`${id}: ${JSON.stringify(first)} then ${JSON.stringify(body)}`);
      }),
    );
    if (finals.size < ids.length) await sleep(options.intervalMs);
  }
  return { finals, flips };
}
