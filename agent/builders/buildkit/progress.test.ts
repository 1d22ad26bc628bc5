/**
 * The plain renderer on traces recorded from the Engine (fixtures/traces.json: a cold build, the same build again
 * from the cache, a failing RUN), and on traces written here for what a recording cannot pin (image resolution).
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { PlainProgress } from "./progress";
import { StatusResponse } from "./proto";
import { decodeTrace } from "./trace";

const recorded = JSON.parse(readFileSync(new URL("./fixtures/traces.json", import.meta.url), "utf8")) as Record<"cold" | "cached" | "failing", string[]>;
const IMAGE = "sha256:28481df0c0a3ec2d0b6849725671aa8426be79628947fbc70383d6ce172666b7";
const STEP_TWO = "[2/4] RUN echo step-two mx3q8uyf && echo to-stderr >&2 && printf 'no newline'";

function render(traces: string[]) {
  const lines: string[] = [];
  const progress = new PlainProgress((line) => lines.push(line));
  const resolved = traces.flatMap((aux) => progress.push(decodeTrace(aux)));
  progress.finish();
  return { lines, resolved, steps: progress.steps(), reuse: progress.reuse() };
}

describe("PlainProgress on recorded traces", () => {
  it("renders a cold build like --progress=plain: headers, the steps' own output (stdout and stderr), DONE with seconds", () => {
    const { lines, steps, reuse } = render(recorded.cold);
    expect(lines).toEqual([
      "#1 [internal] load remote build context",
      "#1 DONE 0.0s",
      "#2 copy /context /",
      "#2 DONE 0.1s",
      "#3 [1/4] COPY bin/ /bin/",
      "#3 DONE 0.0s",
      `#4 ${STEP_TWO}`,
      "#4 0.087 step-two mx3q8uyf",
      "#4 0.087 to-stderr",
      // printf left its line open: it ends with the step.
      "#4 0.087 no newline",
      "#4 DONE 0.1s",
      "#5 [3/4] COPY a.txt /a.txt",
      "#5 DONE 0.0s",
      "#6 [4/4] RUN cat /a.txt && sleep 1",
      "#6 0.057 A",
      "#6 DONE 1.1s",
      "#7 exporting to image",
      "#7 exporting layers",
      "#7 exporting layers done",
      `#7 writing image ${IMAGE}`,
      "#7 DONE 0.0s",
      `#7 writing image ${IMAGE} done`,
    ]);
    expect(steps.map(({ name, cached, durationMs }) => ({ name, cached, durationMs }))).toEqual([
      { name: "[1/4] COPY bin/ /bin/", cached: false, durationMs: 6 },
      { name: STEP_TWO, cached: false, durationMs: 104 },
      { name: "[3/4] COPY a.txt /a.txt", cached: false, durationMs: 23 },
      { name: "[4/4] RUN cat /a.txt && sleep 1", cached: false, durationMs: 1065 },
    ]);
    for (const step of steps) expect(step.startedAt).toBeGreaterThan(Date.UTC(2020, 0, 1));
    expect(reuse).toEqual({ reused: 0, steps: 4 });
  });

  it("renders the same build from the cache as CACHED steps, and counts them", () => {
    const { lines, steps, reuse } = render(recorded.cached);
    expect(lines.filter((line) => line.endsWith(" CACHED"))).toEqual(["#2 CACHED", "#3 CACHED", "#4 CACHED", "#5 CACHED", "#6 CACHED"]);
    expect(lines).toContain(`#4 ${STEP_TWO}`);
    expect(lines.some((line) => line.includes("step-two mx3q8uyf") && !line.includes("RUN"))).toBe(false);
    expect(steps.every((step) => step.cached && step.durationMs === 0)).toBe(true);
    expect(reuse).toEqual({ reused: 4, steps: 4 });
  });

  it("renders a failing RUN with its output and BuildKit's error, and keeps the error on the step", () => {
    const { lines, steps } = render(recorded.failing);
    const error = "executor failed running [/bin/sh -c echo about to fail; exit 3]: exit code: 3";
    expect(lines.slice(-3)).toEqual(["#4 [2/2] RUN echo about to fail; exit 3", "#4 0.056 about to fail", `#4 ERROR: ${error}`]);
    expect(steps.at(-1)).toMatchObject({ name: "[2/2] RUN echo about to fail; exit 3", cached: false, error });
  });
});

describe("PlainProgress on written traces", () => {
  const encode = (trace: object) => Buffer.from(StatusResponse.encode(StatusResponse.fromObject(trace)).finish()).toString("base64");
  const at = (seconds: number) => ({ seconds, nanos: 0 });

  it("names each image the build resolves, once, and leaves FROM out of the reuse count", () => {
    const { resolved, reuse, lines } = render([
      encode({ vertexes: [{ digest: "sha256:m", name: "[internal] load metadata for docker.io/library/busybox:1", started: at(10) }] }),
      encode({ vertexes: [{ digest: "sha256:m", name: "[internal] load metadata for docker.io/library/busybox:1", started: at(10), completed: at(11) }] }),
      encode({ vertexes: [{ digest: "sha256:s", name: "resolve image config for 127.0.0.1:5000/frontend:1", started: at(9) }] }),
      encode({
        vertexes: [
          { digest: "sha256:f", name: "[1/2] FROM docker.io/library/busybox:1", cached: true, started: at(12), completed: at(12) },
          { digest: "sha256:r", name: "[2/2] RUN make", started: at(12), completed: at(15) },
        ],
      }),
    ]);
    expect(resolved).toEqual(["docker.io/library/busybox:1", "127.0.0.1:5000/frontend:1"]);
    expect(reuse).toEqual({ reused: 0, steps: 1 });
    expect(lines).toContain("#4 DONE 3.0s");
  });
});
