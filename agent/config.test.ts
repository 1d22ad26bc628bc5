import { hostname } from "node:os";
import { describe, expect, it } from "vitest";
import { AGENT_VERSION, ConfigError, loadConfig } from "./config.ts";

const REQUIRED = { DOCKIFY_URL: "http://127.0.0.1:8787", DOCKIFY_AGENT_TOKEN: "t0ken" };

function problems(env: NodeJS.ProcessEnv): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error("expected a ConfigError");
}

describe("loadConfig", () => {
  it("applies the defaults", () => {
    expect(loadConfig(REQUIRED)).toEqual({
      poolUrl: "http://127.0.0.1:8787",
      connectUrl: "ws://127.0.0.1:8787/agent/connect",
      token: "t0ken",
      name: hostname(),
      version: AGENT_VERSION,
      concurrency: 1,
      labels: {},
      drainMs: 600_000,
      buildNetwork: undefined,
    });
    expect(AGENT_VERSION).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("reads every setting", () => {
    const config = loadConfig({
      DOCKIFY_URL: "https://dockify.example.com/",
      DOCKIFY_AGENT_TOKEN: "t0ken",
      DOCKIFY_AGENT_NAME: "builder-1",
      DOCKIFY_AGENT_CONCURRENCY: "4",
      DOCKIFY_AGENT_LABELS: "arch=amd64, gpu=none",
      DOCKIFY_AGENT_DRAIN_SECONDS: "30",
      DOCKIFY_AGENT_BUILD_NETWORK: "host",
    });
    expect(config).toMatchObject({
      poolUrl: "https://dockify.example.com",
      connectUrl: "wss://dockify.example.com/agent/connect",
      name: "builder-1",
      concurrency: 4,
      labels: { arch: "amd64", gpu: "none" },
      drainMs: 30_000,
      buildNetwork: "host",
    });
  });

  it("treats empty variables as unset", () => {
    const config = loadConfig({ ...REQUIRED, DOCKIFY_AGENT_CONCURRENCY: "", DOCKIFY_AGENT_NAME: "", DOCKIFY_AGENT_LABELS: "" });
    expect(config).toMatchObject({ concurrency: 1, name: hostname(), labels: {} });
  });

  it("names each missing required variable", () => {
    const message = problems({});
    expect(message).toContain("DOCKIFY_URL");
    expect(message).toContain("DOCKIFY_AGENT_TOKEN: is required");
  });

  it("refuses a URL that is not http or https", () => {
    expect(problems({ ...REQUIRED, DOCKIFY_URL: "ws://127.0.0.1:8787" })).toContain("DOCKIFY_URL: must be an http:// or https:// URL");
    expect(problems({ ...REQUIRED, DOCKIFY_URL: "not a url" })).toContain("DOCKIFY_URL");
  });

  it("refuses a concurrency that is not a whole number from 1 to 64", () => {
    for (const value of ["0", "65", "1.5", "two"]) {
      expect(problems({ ...REQUIRED, DOCKIFY_AGENT_CONCURRENCY: value })).toContain("DOCKIFY_AGENT_CONCURRENCY");
    }
  });

  it("refuses labels that are not k=v or break the label grammar", () => {
    expect(problems({ ...REQUIRED, DOCKIFY_AGENT_LABELS: "arch" })).toContain('"arch" is not k=v');
    expect(problems({ ...REQUIRED, DOCKIFY_AGENT_LABELS: "=x" })).toContain("is not k=v");
    expect(problems({ ...REQUIRED, DOCKIFY_AGENT_LABELS: "Arch=amd64" })).toContain("DOCKIFY_AGENT_LABELS");
    expect(problems({ ...REQUIRED, DOCKIFY_AGENT_LABELS: "arch=a b" })).toContain("label values");
  });

  it("refuses a build network that is not a name", () => {
    expect(problems({ ...REQUIRED, DOCKIFY_AGENT_BUILD_NETWORK: "host;rm" })).toContain("DOCKIFY_AGENT_BUILD_NETWORK: must be a network mode");
  });

  it("never puts the token in an error message", () => {
    expect(problems({ DOCKIFY_URL: "nope", DOCKIFY_AGENT_TOKEN: "t0ken" })).not.toContain("t0ken");
  });
});
