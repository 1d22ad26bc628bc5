/** The CLI's memory of unfinished uploads: found by the same Worker, token and context only; forgotten when told or old. */
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { resumeKey, ResumeStore, uploadStatePath } from "./resume";

const dir = mkdtempSync(join(tmpdir(), "dockify-resume-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const context = { url: "http://127.0.0.1:8787", token: "api-token", sha256: "abc=", size: 100, partSize: 10 };

describe("ResumeStore", () => {
  it("finds an upload by the same Worker, token and context, and by nothing else", () => {
    let now = 1_000_000;
    const store = new ResumeStore(uploadStatePath({ XDG_STATE_HOME: dir }), () => now);
    const key = resumeKey(context);
    store.save(key, "upload-1");
    expect(store.find(key)).toBe("upload-1");
    for (const other of [{ token: "other" }, { url: "http://127.0.0.1:9999" }, { sha256: "abd=" }, { size: 101 }, { partSize: 11 }]) {
      expect(store.find(resumeKey({ ...context, ...other }))).toBeUndefined();
    }
    const file = join(dir, "dockify", "uploads.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, "utf8")).not.toContain("api-token");
    now += 3 * 24 * 3600 * 1000;
    expect(store.find(key)).toBeUndefined();
  });

  it("forgets an upload when told", () => {
    const store = new ResumeStore(join(dir, "forget.json"));
    store.save("k", "upload-2");
    store.forget("k");
    expect(store.find("k")).toBeUndefined();
  });
});
