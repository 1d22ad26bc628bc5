import { describe, expect, it } from "vitest";
import { AllowedFrontends, checkFrontends, FrontendRefused } from "./frontends";

const DIGEST = `sha256:${"b".repeat(64)}`;

function allowing(text: string): AllowedFrontends {
  const parsed = AllowedFrontends.parse(text);
  if (!(parsed instanceof AllowedFrontends)) throw new Error(parsed.errors.join("; "));
  return parsed;
}

describe("AllowedFrontends", () => {
  it("allows a frontend by repository and digest, however it is spelled, and nothing by tag", () => {
    const allowed = allowing(`docker/dockerfile:1.4@${DIGEST}`);
    expect(allowed.allows(`docker/dockerfile@${DIGEST}`)).toBe(true);
    expect(allowed.allows(`docker.io/docker/dockerfile:1.7@${DIGEST}`)).toBe(true);
    expect(allowed.allows("docker/dockerfile:1.4")).toBe(false);
    expect(allowed.allows(`docker/dockerfile@sha256:${"c".repeat(64)}`)).toBe(false);
    expect(allowed.allows(`evil/dockerfile@${DIGEST}`)).toBe(false);
    expect(allowed.allows("not a reference")).toBe(false);
    expect(AllowedFrontends.NONE.allows(`docker/dockerfile@${DIGEST}`)).toBe(false);
  });

  it("refuses entries not pinned by a sha256 digest, naming each", () => {
    expect(AllowedFrontends.parse(`docker/dockerfile:1, ok/f@${DIGEST}, x/y@sha512:${"a".repeat(128)}`)).toEqual({
      errors: [
        '"docker/dockerfile:1" is not pinned by digest: write it as name@sha256:<64 hex digits> (a tag can be moved to other code)',
        `"x/y@sha512:${"a".repeat(128)}" is not pinned by digest: write it as name@sha256:<64 hex digits> (a tag can be moved to other code)`,
      ],
    });
  });
});

describe("checkFrontends", () => {
  it("passes a Dockerfile without frontends, or with allowed ones only", () => {
    expect(() => checkFrontends([], AllowedFrontends.NONE)).not.toThrow();
    expect(() => checkFrontends([{ reference: `ok/f@${DIGEST}`, where: "# syntax (line 1)" }], allowing(`ok/f@${DIGEST}`))).not.toThrow();
  });

  it("refuses any frontend not allowed, saying where, why and what to do", () => {
    const frontends = [
      { reference: `ok/f@${DIGEST}`, where: "# syntax (line 1)" },
      { reference: "evil/f:1", where: "# syntax (line 2)" },
    ];
    expect(() => checkFrontends(frontends, allowing(`ok/f@${DIGEST}`))).toThrow(FrontendRefused);
    expect(() => checkFrontends(frontends, allowing(`ok/f@${DIGEST}`))).toThrow(
      "# syntax (line 2): the frontend evil/f:1 is not allowed on this agent: a # syntax= frontend is code that builds the image its own way, " +
        "past the agent's checks of the images a build uses and of whose cache mounts it reads. Remove the line (the Engine's built-in " +
        `Dockerfile frontend has RUN --mount for cache, secret and bind mounts), or name a frontend this agent allows, by its digest: ok/f@${DIGEST}`,
    );
    expect(() => checkFrontends(frontends, AllowedFrontends.NONE)).toThrow(
      /^# syntax \(line 1\): the frontend ok\/f@sha256:b+ is not allowed .* or ask the agent's operator to allow that frontend, pinned by digest \(DOCKIFY_AGENT_FRONTENDS\)$/,
    );
  });
});
