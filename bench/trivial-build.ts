/**
 * Cold overhead: a small build with a few steps on a local base (the stack's
 * base image in its registry), fresh content each round so no step is a
 * cache hit, through Dockify from `POST /build` to status `success`, next to
 * the same build done directly with the Engine's BuildKit and pushed
 * (bench/builds.ts), on the same Engine and registry.
 *
 *   npx tsx bench/trivial-build.ts [--rounds=10] [--json]
 */
import { randomUUID } from "node:crypto";
import { startStack } from "../harness/stack";
import { median } from "../harness/stats";
import { isMain, main, ms, numberOption, progress, ratio, type Options, type Row } from "./figure";
import { alternate, direct, viaDockify, type Files } from "./builds";

export async function run(options: Options = {}): Promise<Row[]> {
  const rounds = numberOption(options, "rounds", 10);
  const stack = await startStack();
  // The fresh file comes first, so every step after it runs.
  const files = (): Files => ({
    Dockerfile: `FROM ${stack.baseImage}\nCOPY app.txt /app.txt\nRUN cat /app.txt > /copy.txt\nCOPY extra.txt /extra.txt\nRUN wc -c /app.txt /extra.txt > /sizes.txt\n`,
    "app.txt": randomUUID(),
    "extra.txt": "extra\n",
  });
  try {
    const times = { direct: [] as number[], dockify: [] as number[] };
    // One warm-up of each, not counted: the first wrangler request compiles the Worker, the first pull fetches the base.
    await direct(stack, "warmup", files());
    await viaDockify(stack, "warmup", files());
    progress(`cold overhead: ${rounds} rounds`);
    for (let round = 0; round < rounds; round++) {
      await alternate(round, { direct: () => direct(stack, `r${round}`, files()), dockify: () => viaDockify(stack, `r${round}`, files()) }, times);
    }
    const [d, k] = [median(times.direct), median(times.dockify)];
    return [
      {
        figure: `cold build + push, 4 steps on a local base (median of ${rounds})`,
        ours: ms(k),
        baseline: `${ms(d)} direct BuildKit`,
        ratio: ratio(k, d),
        note: `+${ms(k - d)} per build: Dockify POST /build → success vs direct BuildKit build + push on the same Engine`,
        data: { rounds, directMs: times.direct, dockifyMs: times.dockify },
      },
    ];
  } finally {
    await stack.stop();
  }
}

if (isMain(import.meta.url)) await main(run);
