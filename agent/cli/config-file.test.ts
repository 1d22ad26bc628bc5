import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError } from "../config";
import { applyConfigFile, readConfigFile, unknownSettings } from "./config-file";

const dir = mkdtempSync(join(tmpdir(), "dockify-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(text: string): string {
  const path = join(dir, `agent-${Math.random().toString(36).slice(2)}.env`);
  writeFileSync(path, text);
  return path;
}

describe("the --config file", () => {
  it("reads KEY=value lines as an EnvironmentFile holds them: comments, quotes, blank lines", () => {
    const path = file(['# the agent', "DOCKIFY_URL=https://dockify.example.com", "", 'DOCKIFY_AGENT_LABELS="arch=amd64,disk=ssd"', "DOCKER_HOST='unix:///run/docker.sock'"].join("\n"));
    expect(readConfigFile(path).values).toEqual({
      DOCKIFY_URL: "https://dockify.example.com",
      DOCKIFY_AGENT_LABELS: "arch=amd64,disk=ssd",
      DOCKER_HOST: "unix:///run/docker.sock",
    });
  });

  it("names every line that is not a setting of the agent", () => {
    const config = readConfigFile(file("DOCKIFY_AGNET_NAME=x\nDOCKIFY_URL=http://a\nPATH=/bin\n"));
    expect(unknownSettings(config)).toEqual([
      `  DOCKIFY_AGNET_NAME (in ${config.path}): not a setting of the agent`,
      `  PATH (in ${config.path}): not a setting of the agent`,
    ]);
  });

  it("puts its values under the environment's: set variables win, empty ones count as unset", () => {
    const config = readConfigFile(file("DOCKIFY_URL=http://file\nDOCKIFY_AGENT_NAME=from-file\nDOCKIFY_AGENT_CONCURRENCY=2\n"));
    const env: NodeJS.ProcessEnv = { DOCKIFY_URL: "http://env", DOCKIFY_AGENT_NAME: "", DOCKIFY_AGENT_CONCURRENCY: "2" };
    expect(applyConfigFile(config, env)).toEqual(["DOCKIFY_URL"]);
    expect(env).toEqual({ DOCKIFY_URL: "http://env", DOCKIFY_AGENT_NAME: "from-file", DOCKIFY_AGENT_CONCURRENCY: "2" });
  });

  it("says when it cannot be read", () => {
    const missing = join(dir, "missing.env");
    expect(() => readConfigFile(missing)).toThrow(ConfigError);
    expect(() => readConfigFile(missing)).toThrow(`--config: cannot read ${missing}: ENOENT`);
  });
});
