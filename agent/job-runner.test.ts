import { describe, expect, it } from "vitest";
import { MAX_LOG_LINE_CHARS } from "../shared/build-log";
import { MAX_STEP_NAME_CHARS } from "../shared/protocol";
import { redactor } from "../shared/redact";
import { reportedSteps } from "./job-runner";

const SECRET = "hunter2-pa55word";
const redact = redactor([SECRET]);
const step = { cached: false, startedAt: 1, durationMs: 2 };

describe("reportedSteps", () => {
  it("redacts every step's name and error", () => {
    expect(
      reportedSteps(
        [
          { ...step, name: `[2/3] RUN echo ${SECRET} > /x` },
          { ...step, name: `[3/3] RUN curl -u me:${SECRET} x`, error: `process "/bin/sh -c curl -u me:${SECRET} x" did not complete` },
        ],
        redact,
      ),
    ).toEqual([
      { ...step, name: "[2/3] RUN echo *** > /x" },
      { ...step, name: "[3/3] RUN curl -u me:*** x", error: 'process "/bin/sh -c curl -u me:*** x" did not complete' },
    ]);
  });

  it("redacts before cutting to the record's limits, so a secret across the cut leaves nothing of itself", () => {
    const name = `${"n".repeat(MAX_STEP_NAME_CHARS - 4)}${SECRET}`;
    const error = `${"e".repeat(MAX_LOG_LINE_CHARS - 4)}${SECRET}`;
    const [reported] = reportedSteps([{ ...step, name, error }], redact);
    expect(reported!.name).toBe(`${"n".repeat(MAX_STEP_NAME_CHARS - 4)}***`);
    expect(reported!.error).toBe(`${"e".repeat(MAX_LOG_LINE_CHARS - 4)}***`);
    // A short secret's *** is longer than the secret: the result still fits.
    const [short] = reportedSteps([{ ...step, name: "ab".repeat(MAX_STEP_NAME_CHARS) }], redactor(["a"]));
    expect(short!.name).toHaveLength(MAX_STEP_NAME_CHARS);
  });
});
