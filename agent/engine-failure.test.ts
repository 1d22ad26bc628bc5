import { describe, expect, it } from "vitest";
import { EngineFailure, isEngineFailure } from "./engine-failure";

function withCode(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

describe("isEngineFailure", () => {
  it("takes the connection to the daemon failing, a 5xx answer and what the agent marked as the Engine's", () => {
    expect(isEngineFailure(withCode("connect ENOENT /var/run/docker.sock", "ENOENT"))).toBe(true);
    expect(isEngineFailure(withCode("socket hang up", "ECONNRESET"))).toBe(true);
    expect(isEngineFailure(new Error("fetch failed", { cause: withCode("connect ECONNREFUSED 127.0.0.1:2375", "ECONNREFUSED") }))).toBe(true);
    expect(isEngineFailure(Object.assign(new Error("(HTTP code 500) server error - "), { statusCode: 500 }))).toBe(true);
    expect(isEngineFailure(new EngineFailure("BuildKit dropped the build's session"))).toBe(true);
  });

  it("never goes by an error's text, which a build's command and output can hold", () => {
    for (const message of [
      'executor failed running [/bin/sh -c echo "socket hang up" && exit 1]: exit code: 1',
      "The command '/bin/sh -c echo connection reset by peer && exit 1' returned a non-zero code: 1",
      "no active session for x: context deadline exceeded",
      "unable to find image sha256:0123456789abcdef",
      "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
    ]) {
      expect(isEngineFailure(new Error(message)), message).toBe(false);
    }
    expect(isEngineFailure(Object.assign(new Error("(HTTP code 404) no such image"), { statusCode: 404 }))).toBe(false);
    expect(isEngineFailure("socket hang up")).toBe(false);
  });
});
