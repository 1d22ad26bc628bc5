/**
 * Warm rebuilds through Dockify (BuildKit agent), next to the same rebuilds
 * done directly with the Engine's BuildKit and pushed (bench/builds.ts), on
 * the same Engine with its cache and the same registry.
 *
 *   npx tsx bench/warm-rebuild.ts [--rounds=5] [--json]
 *
 * Each round, each side builds a Dockerfile of its own (a fresh marker in its
 * one-second RUN step, so the first build is cold) and then rebuilds it with
 * the file of its last COPY changed (the slow step comes from the cache).
 */
import { randomUUID } from "node:crypto";
import { startStack } from "../harness/stack";
import { median } from "../harness/stats";
import { isMain, main, ms, numberOption, progress, ratio, type Options, type Row } from "./figure";
import { alternate, direct, viaDockify, type Files } from "./builds";

export async function run(options: Options = {}): Promise<Row[]> {
  const rounds = numberOption(options, "rounds", 5);
  const stack = await startStack();
  const files = (marker: string): Files => ({
    Dockerfile: `FROM ${stack.baseImage}\nRUN sleep 1 && echo ${marker} > /heavy\nCOPY app.txt /app.txt\nRUN cat /app.txt\n`,
    "app.txt": randomUUID(),
  });
  try {
    const cold = { direct: [] as number[], dockify: [] as number[] };
    const warm = { direct: [] as number[], dockify: [] as number[] };
    // One warm-up of each, not counted: the first wrangler request compiles the Worker, the first pull fetches the base.
    await direct(stack, "warmup", files(randomUUID()));
    await viaDockify(stack, "warmup", files(randomUUID()));
    progress(`warm rebuild: ${rounds} rounds`);
    for (let round = 0; round < rounds; round++) {
      const markers = { direct: randomUUID(), dockify: randomUUID() };
      for (const [into, tag] of [[cold, `c${round}`], [warm, `w${round}`]] as const) {
        await alternate(round, { direct: () => direct(stack, tag, files(markers.direct)), dockify: () => viaDockify(stack, tag, files(markers.dockify)) }, into);
      }
    }
    const m = (values: number[]) => median(values);
    return [
      {
        figure: `warm rebuild + push, last COPY changed, 1 s step cached (median of ${rounds})`,
        ours: ms(m(warm.dockify)),
        baseline: `${ms(m(warm.direct))} direct BuildKit`,
        ratio: ratio(m(warm.dockify), m(warm.direct)),
        note:
          `+${ms(m(warm.dockify) - m(warm.direct))} per rebuild; the cold build before it: ${ms(m(cold.dockify))} vs ${ms(m(cold.direct))} ` +
          `(${ratio(m(cold.dockify), m(cold.direct))}); warm/cold ${ratio(m(warm.dockify), m(cold.dockify))} through Dockify, ${ratio(m(warm.direct), m(cold.direct))} direct`,
        data: { rounds, cold, warm },
      },
    ];
  } finally {
    await stack.stop();
  }
}

if (isMain(import.meta.url)) await main(run);
