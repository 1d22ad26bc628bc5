/** Where the CLI's URL and token come from: the environment over the config file, every problem named, a readable file refused. */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { configFilePath, loadSettings } from "./settings";

const dir = mkdtempSync(join(tmpdir(), "dockify-settings-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function configFile(text: string, mode = 0o600): string {
  const path = join(dir, `config-${Math.random().toString(16).slice(2)}`);
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

describe("loadSettings", () => {
  it("reads the config file's KEY=value lines, under the environment", () => {
    const path = configFile("# mine\nDOCKIFY_URL=http://127.0.0.1:8787/\nDOCKIFY_TOKEN=file-token\n");
    expect(loadSettings({ DOCKIFY_CONFIG: path })).toEqual({ url: "http://127.0.0.1:8787", token: "file-token" });
    expect(loadSettings({ DOCKIFY_CONFIG: path, DOCKIFY_TOKEN: "env-token" })).toEqual({ url: "http://127.0.0.1:8787", token: "env-token" });
  });

  it("looks in $XDG_CONFIG_HOME/dockify/config, else ~/.config/dockify/config", () => {
    expect(configFilePath({ XDG_CONFIG_HOME: "/x" })).toBe("/x/dockify/config");
    expect(configFilePath({})).toMatch(/\/\.config\/dockify\/config$/);
  });

  it("names every missing or wrong setting at once, and where to put them", () => {
    const attempt = () => loadSettings({ XDG_CONFIG_HOME: dir, DOCKIFY_URL: "ftp://x" });
    expect(attempt).toThrow("DOCKIFY_URL=ftp://x is not an http(s) URL\nDOCKIFY_TOKEN is not set: your Dockify API token");
    expect(attempt).toThrow(`(set them in the environment or in ${join(dir, "dockify", "config")} as KEY=value lines; see dockify --help)`);
  });

  it("refuses a config file every user can read, and a DOCKIFY_CONFIG that names no file", () => {
    const path = configFile("DOCKIFY_URL=http://x\nDOCKIFY_TOKEN=t\n", 0o644);
    expect(() => loadSettings({ DOCKIFY_CONFIG: path })).toThrow(`${path} holds an API token and every user of this host can read it (mode 644): chmod 600 ${path}`);
    expect(() => loadSettings({ DOCKIFY_CONFIG: join(dir, "none") })).toThrow(`DOCKIFY_CONFIG names ${join(dir, "none")}, which does not exist`);
  });
});
