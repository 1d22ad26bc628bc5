/**
 * The request `dockify build` sends, per the build options' contract: the
 * first -t as the image fields, the others as also_push, options only when
 * given, logins and secrets only in base64url JSON headers; each read back
 * with the schemas the Worker validates with (shared/api.ts).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildSecrets, decodeHeaderJson, LOGINS_HEADER, registryLogins, SECRETS_HEADER, tarballBuildQuery } from "../shared/api";
import { buildRequest, pushTarget, readSecrets, type BuildFlags } from "./build-request";

const dir = mkdtempSync(join(tmpdir(), "dockify-request-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const noFlags: BuildFlags = { tag: [], buildArg: [], noCache: false, secret: [], label: [] };

function decode(header: string | undefined): unknown {
  return decodeHeaderJson(header!);
}

/** The query as the Worker reads it (a repeatable field as a list), checked with its own schema. */
function asWorkerReadsIt(query: [string, string][]) {
  const fields: Record<string, string | string[]> = {};
  for (const [key, value] of query) fields[key] = key === "build_arg" || key === "also_push" ? [...((fields[key] as string[] | undefined) ?? []), value] : value;
  return tarballBuildQuery.parse(fields);
}

describe("pushTarget", () => {
  it("splits a reference into the API's registry, user_name, repo and tag", () => {
    expect(pushTarget("127.0.0.1:5000/alice/team/web:v1")).toEqual({ registry: "127.0.0.1:5000", user_name: "alice", repo: "team/web", tag: "v1", reference: "127.0.0.1:5000/alice/team/web:v1" });
    expect(pushTarget("alice/web")).toMatchObject({ registry: "docker.io", user_name: "alice", repo: "web", tag: "latest" });
  });

  it("refuses what cannot be pushed as one user's image, saying what to write", () => {
    expect(() => pushTarget("web:1")).toThrow("-t web:1: name the user or organisation it goes under, e.g. alice/web:1 or registry.example.com/alice/web:1");
    expect(() => pushTarget("alice/web@sha256:" + "a".repeat(64))).toThrow("a reference to push names a tag, not a digest");
    expect(() => pushTarget("Alice/web")).toThrow(/-t Alice\/web: .*not a valid image reference/);
  });
});

describe("buildRequest", () => {
  it("sends only the image fields when no option is given (an older Worker knows them all)", () => {
    const { query, headers } = buildRequest({ flags: { ...noFlags, tag: ["127.0.0.1:5000/alice/web:v1"] }, dockerfile: "Dockerfile", pushLogin: undefined, otherLogins: new Map(), secrets: {}, env: {} });
    expect(query).toEqual([
      ["user_name", "alice"],
      ["repo", "web"],
      ["tag", "v1"],
      ["registry", "127.0.0.1:5000"],
    ]);
    expect(headers).toEqual({});
  });

  it("sends every option per the contract: build_arg, target, no_cache, platform, also_push, dockerfile, labels", () => {
    const { query } = buildRequest({
      flags: {
        tag: ["127.0.0.1:5000/alice/web:v1", "127.0.0.1:5000/alice/web:latest", "bob/web:v1"],
        buildArg: ["VERSION=1.2", "EMPTY=", "FROM_ENV", "UNSET"],
        target: "release",
        platform: "linux/arm64/v8",
        noCache: true,
        secret: [],
        label: ["gpu=true", "zone=eu"],
      },
      dockerfile: "docker/app.Dockerfile",
      pushLogin: undefined,
      otherLogins: new Map(),
      secrets: {},
      env: { FROM_ENV: "from the environment" },
    });
    expect(query).toEqual([
      ["user_name", "alice"],
      ["repo", "web"],
      ["tag", "v1"],
      ["registry", "127.0.0.1:5000"],
      ["labels", "gpu=true,zone=eu"],
      ["build_arg", "VERSION=1.2"],
      ["build_arg", "EMPTY="],
      ["build_arg", "FROM_ENV=from the environment"],
      ["target", "release"],
      ["no_cache", "true"],
      ["platform", "linux/arm64/v8"],
      ["also_push", "127.0.0.1:5000/alice/web:latest"],
      ["also_push", "bob/web:v1"],
      ["dockerfile", "docker/app.Dockerfile"],
    ]);
    // The Worker's own schema takes it, and reads what was meant.
    expect(asWorkerReadsIt(query)).toMatchObject({
      user_name: "alice",
      build_arg: { VERSION: "1.2", EMPTY: "", FROM_ENV: "from the environment" },
      target: "release",
      no_cache: true,
      platform: "linux/arm64/v8",
      also_push: [expect.objectContaining({ registry: "127.0.0.1:5000", tag: "latest" }), expect.objectContaining({ registry: "docker.io", tag: "v1" })],
      dockerfile: "docker/app.Dockerfile",
      labels: { gpu: "true", zone: "eu" },
    });
  });

  it("puts the password, the other logins and the secrets in headers only, never in the query", () => {
    const { query, headers } = buildRequest({
      flags: { ...noFlags, tag: ["127.0.0.1:5000/alice/web:v1"] },
      dockerfile: "Dockerfile",
      pushLogin: { username: "alice", password: "push-pw", source: "test" },
      otherLogins: new Map([["docker.io", { username: "bob", password: "hub-pw", source: "test" }]]),
      secrets: { npmrc: "//registry/:_authToken=abc\nline two\n" },
      env: {},
    });
    expect(headers["X-Registry-Password"]).toBe("push-pw");
    expect(registryLogins.parse(decode(headers[LOGINS_HEADER]))).toEqual({ "docker.io": { username: "bob", password: "hub-pw" } });
    expect(buildSecrets.parse(decode(headers[SECRETS_HEADER]))).toEqual({ npmrc: "//registry/:_authToken=abc\nline two\n" });
    expect(headers[LOGINS_HEADER]).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(JSON.stringify(query)).not.toMatch(/pw|authToken/);
  });

  it("refuses a build without -t", () => {
    expect(() => buildRequest({ flags: noFlags, dockerfile: "Dockerfile", pushLogin: undefined, otherLogins: new Map(), secrets: {}, env: {} })).toThrow("name the image to push with -t REF");
  });
});

describe("readSecrets", () => {
  it("reads id=ID,src=FILE, id=ID,env=VAR and id=ID (the variable ID), as docker buildx does", () => {
    const file = join(dir, "key.pem");
    writeFileSync(file, "-----BEGIN KEY-----\nabc\n-----END KEY-----\n");
    expect(readSecrets([`id=key,src=${file}`, "id=token,env=MY_TOKEN", "id=GIT_AUTH", `id=other,type=file,source=${file}`], { MY_TOKEN: "t0ken", GIT_AUTH: "git" })).toEqual({
      key: "-----BEGIN KEY-----\nabc\n-----END KEY-----\n",
      token: "t0ken",
      GIT_AUTH: "git",
      other: "-----BEGIN KEY-----\nabc\n-----END KEY-----\n",
    });
  });

  it("says what is wrong with a spec", () => {
    expect(() => readSecrets(["src=/x"], {})).toThrow("--secret src=/x: id=… is required");
    expect(() => readSecrets(["id=a,env=NOPE"], {})).toThrow("--secret a: the environment variable NOPE is not set");
    expect(() => readSecrets(["id=a,src=/nonexistent/dockify"], {})).toThrow("--secret a: cannot read /nonexistent/dockify");
    expect(() => readSecrets(["id=a,env=X", "id=a,env=X"], { X: "1" })).toThrow("--secret: id a is given twice");
    expect(() => readSecrets(["id=a,src=/x,env=X"], {})).toThrow("give src or env, not both");
  });
});
