/**
 * Where registry logins come from: --password-stdin over the environment over
 * the Docker config; the Docker config's `auths` in both of Docker's forms,
 * under any spelling of a host (Hub's aliases, a scheme, a path), and its
 * credential helpers; a Docker login under another name refused with why.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { DockerConfigLogins, pushLogin, readPasswordStdin, type HelperRunner } from "./credentials";
import { otherLogins } from "./registries";

const temp: string[] = [];
afterAll(() => {
  for (const dir of temp) rmSync(dir, { recursive: true, force: true });
});

/** A DOCKER_CONFIG folder holding `config`. */
function dockerConfigDir(config: unknown): NodeJS.ProcessEnv {
  const dir = mkdtempSync(join(tmpdir(), "dockify-docker-config-"));
  temp.push(dir);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.json"), JSON.stringify(config));
  return { DOCKER_CONFIG: dir };
}

const basic = (user: string, password: string) => Buffer.from(`${user}:${password}`).toString("base64");

describe("DockerConfigLogins", () => {
  const env = dockerConfigDir({
    auths: {
      "https://index.docker.io/v1/": { auth: basic("alice", "hub-pw:with:colons") },
      "127.0.0.1:5000": { auth: basic("alice", "local-pw") },
      "https://registry.example.com": { username: "bob", password: "example-pw" },
      "http://Mirror.Example.com:8443/v2/": { auth: basic("carol", "mirror-pw") },
      "empty.example.com": {},
    },
  });
  const logins = new DockerConfigLogins(env);

  it("reads base64 auth and username/password entries, matching hosts however Docker spelt them", () => {
    expect(logins.for("docker.io")).toEqual({ username: "alice", password: "hub-pw:with:colons", source: logins.path });
    expect(logins.for("registry-1.docker.io")?.password).toBe("hub-pw:with:colons");
    expect(logins.for("127.0.0.1:5000")?.password).toBe("local-pw");
    expect(logins.for("registry.example.com")).toMatchObject({ username: "bob", password: "example-pw" });
    expect(logins.for("mirror.example.com:8443")).toMatchObject({ username: "carol", password: "mirror-pw" });
  });

  it("has nothing for a host it has no login for, or an entry without one", () => {
    expect(logins.for("127.0.0.1:5001")).toBeUndefined();
    expect(logins.for("empty.example.com")).toBeUndefined();
    expect(new DockerConfigLogins({ DOCKER_CONFIG: "/nonexistent/dockify" }).for("docker.io")).toBeUndefined();
  });

  it("asks the credential helper Docker would: credHelpers for the host, else credsStore, with Hub's server name", () => {
    const asked: string[] = [];
    const runner: HelperRunner = (helper, server) => {
      asked.push(`${helper} ${server}`);
      if (server === "ghcr.io") return { Username: "dan", Secret: "ghcr-token" };
      if (server === "token.example.com") return { Username: "<token>", Secret: "identity" };
      return null;
    };
    const helped = new DockerConfigLogins(
      dockerConfigDir({ credsStore: "desktop", credHelpers: { "ghcr.io": "gh" }, auths: { "127.0.0.1:5000": { auth: basic("alice", "local-pw") } } }),
      runner,
    );
    expect(helped.for("ghcr.io")).toEqual({ username: "dan", password: "ghcr-token", source: "docker-credential-gh" });
    // Nothing in the store: the auths entry still counts.
    expect(helped.for("127.0.0.1:5000")?.password).toBe("local-pw");
    // An identity token is not a password a registry's Basic login takes.
    expect(helped.for("token.example.com")).toBeUndefined();
    expect(helped.for("docker.io")).toBeUndefined();
    expect(asked).toEqual(["gh ghcr.io", "desktop 127.0.0.1:5000", "desktop token.example.com", "desktop https://index.docker.io/v1/"]);
  });

  it("refuses a config that is not JSON, naming the file", () => {
    const dir = mkdtempSync(join(tmpdir(), "dockify-docker-config-"));
    temp.push(dir);
    writeFileSync(join(dir, "config.json"), "{not json");
    expect(() => new DockerConfigLogins({ DOCKER_CONFIG: dir })).toThrow(`cannot read your Docker config ${join(dir, "config.json")}`);
  });
});

describe("pushLogin", () => {
  const dockerConfig = new DockerConfigLogins(dockerConfigDir({ auths: { "127.0.0.1:5000": { auth: basic("alice", "from-docker") } } }));

  it("takes --password-stdin, then DOCKIFY_REGISTRY_PASSWORD, then the Docker config", () => {
    const env = { DOCKIFY_REGISTRY_PASSWORD: "from-env" };
    expect(pushLogin("127.0.0.1:5000", "alice", { passwordStdin: "from-stdin", env, dockerConfig })).toEqual({ username: "alice", password: "from-stdin", source: "--password-stdin" });
    expect(pushLogin("127.0.0.1:5000", "alice", { env, dockerConfig })).toEqual({ username: "alice", password: "from-env", source: "DOCKIFY_REGISTRY_PASSWORD" });
    expect(pushLogin("127.0.0.1:5000", "alice", { env: {}, dockerConfig })).toMatchObject({ username: "alice", password: "from-docker" });
    expect(pushLogin("127.0.0.1:5001", "alice", { env: {}, dockerConfig })).toBeUndefined();
  });

  it("refuses a Docker login under another name than the reference's, saying what to do, without the password", () => {
    const attempt = () => pushLogin("127.0.0.1:5000", "acme", { env: {}, dockerConfig });
    expect(attempt).toThrow(/your Docker login for 127\.0\.0\.1:5000 \(.*config\.json\) is user 'alice', but Dockify logs in to the push registry as the reference's first path component, 'acme'/);
    expect(attempt).not.toThrow(/from-docker/);
  });
});

describe("otherLogins", () => {
  it("gives the Docker logins of the other hosts a build names, once each, never the push registry's", () => {
    const dockerConfig = new DockerConfigLogins(
      dockerConfigDir({ auths: { "127.0.0.1:5000": { auth: basic("alice", "a") }, "https://index.docker.io/v1/": { auth: basic("bob", "b") } } }),
    );
    const logins = otherLogins(["docker.io", "127.0.0.1:5000", "index.docker.io", "quay.io"], "127.0.0.1:5000", dockerConfig);
    expect([...logins.keys()]).toEqual(["docker.io"]);
    expect(logins.get("docker.io")).toMatchObject({ username: "bob", password: "b" });
  });
});

describe("readPasswordStdin", () => {
  it("reads one line, dropping its line break, as docker login --password-stdin does", async () => {
    expect(await readPasswordStdin(Readable.from(["s3cret pass\n"]))).toBe("s3cret pass");
    await expect(readPasswordStdin(Readable.from([""]))).rejects.toThrow("--password-stdin: standard input was empty");
  });
});
