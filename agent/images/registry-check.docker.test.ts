/**
 * The registry check against real registries: one with HTTP Basic logins, one
 * with Bearer tokens from a token service (Docker Hub's scheme), one open. The
 * image is pushed through the real Engine.
 */
import { existsSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildBaseImage, pushImage, removeImage, tagImage } from "../../harness/docker";
import { startRegistry, type Registry } from "../../harness/registry";
import { BASE_IMAGE } from "../../harness/stack";
import { parseImageName } from "../docker-name";
import { checkPullable, ImageNotPullable, parseChallenge } from "./registry-check";

const hasDocker = existsSync("/var/run/docker.sock");
const USER = "carol";
const PASSWORD = `pw-${randomBytes(8).toString("hex")}`;
const REPOSITORY = `check/base-${randomBytes(4).toString("hex")}`;

describe("parseChallenge", () => {
  it("reads the scheme and the quoted parameters, commas inside quotes included", () => {
    const challenge = parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"');
    expect(challenge?.scheme).toBe("bearer");
    expect(Object.fromEntries(challenge?.params ?? [])).toEqual({
      realm: "https://auth.example/token",
      service: "registry.example",
      scope: "repository:a/b:pull,push",
    });
    expect(parseChallenge('Basic realm="registry"')?.scheme).toBe("basic");
  });
});

describe.skipIf(!hasDocker)("checkPullable against real registries", () => {
  let basic: Registry;
  let token: Registry;
  let open: Registry;
  const digests = new Map<Registry, string>();
  const login = (registry: Registry, password = PASSWORD) => ({ username: USER, password, serveraddress: registry.host });
  const check = (reference: string, auth?: ReturnType<typeof login>) =>
    checkPullable({ image: parseImageName(reference), login: auth, signal: new AbortController().signal });

  beforeAll(async () => {
    [basic, token, open] = await Promise.all([
      startRegistry({ users: { [USER]: PASSWORD } }),
      startRegistry({ users: { [USER]: PASSWORD }, tokenAuth: true }),
      startRegistry(),
      buildBaseImage(BASE_IMAGE),
    ]);
    for (const registry of [basic, token, open]) {
      const reference = `${registry.host}/${REPOSITORY}:1`;
      await tagImage(BASE_IMAGE, reference);
      digests.set(registry, await pushImage(reference, registry === open ? undefined : { username: USER, password: PASSWORD }));
      await removeImage(reference);
    }
  }, 60_000);

  afterAll(async () => {
    await Promise.all([basic, token, open].map((registry) => registry?.stop()));
  });

  it("lets a login pull from its Basic registry, by tag and by digest", async () => {
    await expect(check(`${basic.host}/${REPOSITORY}:1`, login(basic))).resolves.toBeUndefined();
    await expect(check(`${basic.host}/${REPOSITORY}@${digests.get(basic)}`, login(basic))).resolves.toBeUndefined();
  });

  it("refuses a Basic registry's image without a login or with a wrong one, naming the image", async () => {
    await expect(check(`${basic.host}/${REPOSITORY}:1`)).rejects.toThrow(
      new ImageNotPullable(`cannot pull ${basic.host}/${REPOSITORY}:1: its registry requires a login and no login (this build has none for ${basic.host})`),
    );
    await expect(check(`${basic.host}/${REPOSITORY}@${digests.get(basic)}`)).rejects.toThrow(ImageNotPullable);
    await expect(check(`${basic.host}/${REPOSITORY}:1`, login(basic, "wrong"))).rejects.toThrow(
      `cannot pull ${basic.host}/${REPOSITORY}:1 with this build's login for ${basic.host}: the registry answered HTTP 401`,
    );
  });

  it("says when the image does not exist", async () => {
    await expect(check(`${basic.host}/${REPOSITORY}:nope`, login(basic))).rejects.toThrow("its registry has no such image (HTTP 404)");
  });

  it("fetches a token with the login from a Bearer registry's realm, and refuses without one", async () => {
    await expect(check(`${token.host}/${REPOSITORY}:1`, login(token))).resolves.toBeUndefined();
    await expect(check(`${token.host}/${REPOSITORY}@${digests.get(token)}`, login(token))).resolves.toBeUndefined();
    // Anonymous: the token service hands out a token with no access, and the registry refuses it.
    await expect(check(`${token.host}/${REPOSITORY}:1`)).rejects.toThrow(`cannot pull ${token.host}/${REPOSITORY}:1 with no login`);
    await expect(check(`${token.host}/${REPOSITORY}:1`, login(token, "wrong"))).rejects.toThrow(
      `its registry's token service refused this build's login for ${token.host} (HTTP 401)`,
    );
  });

  it("lets anyone pull from an open registry", async () => {
    await expect(check(`${open.host}/${REPOSITORY}:1`)).resolves.toBeUndefined();
  });

  it("says a registry that cannot be reached could not be reached", async () => {
    await expect(check(`127.0.0.1:9/${REPOSITORY}:1`)).rejects.toThrow(`cannot pull 127.0.0.1:9/${REPOSITORY}:1: its registry could not be reached`);
  });
});
