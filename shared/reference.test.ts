import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkPathComponent, checkRegistry, checkRepositoryPath, checkTag, formatReference, formatRepository, imageUrl, parseReference, type ImageName } from "./reference";

describe("image reference grammar", () => {
  it.each(["alice", "web", "a.b", "a_b", "a__b", "a-b", "a---b", "x1"])("accepts the path component %s", (value) => {
    expect(checkPathComponent(value)).toBeNull();
  });
  it.each(["", "Alice", "a..b", "a___b", "-a", "a-", ".a", "a b", "a\u0000", "a/b", "é"])("refuses the path component %j", (value) => {
    expect(checkPathComponent(value)).not.toBeNull();
  });
  it.each(["latest", "v1.2.3", "_x", "A-b_c.d", "a".repeat(128)])("accepts the tag %s", (value) => {
    expect(checkTag(value)).toBeNull();
  });
  it.each(["", ".x", "-x", "a".repeat(129), "v 1", "v:1", "v/1", "v\n1"])("refuses the tag %j", (value) => {
    expect(checkTag(value)).not.toBeNull();
  });
  it.each(["docker.io", "127.0.0.1:5000", "localhost:5000", "registry.example.com", "[::1]:5000", "my-reg.io:443"])(
    "accepts the registry %s",
    (value) => expect(checkRegistry(value)).toBeNull(),
  );
  it.each(["", "https://r.io", "r.io/path", "r.io:0", "r.io:65536", "r.io:x", "-r.io", "r..io", "r io", "[zz]:1"])(
    "refuses the registry %j",
    (value) => expect(checkRegistry(value)).not.toBeNull(),
  );
  it("limits the whole repository path to 255 characters", () => {
    expect(checkRepositoryPath(`${"a".repeat(100)}/${"b".repeat(154)}`)).toBeNull();
    expect(checkRepositoryPath(`${"a".repeat(100)}/${"b".repeat(155)}`)).not.toBeNull();
  });

  it("formats Hub references without a registry and others with it", () => {
    expect(formatReference({ registry: "docker.io", path: "alice/web", tag: "v1" })).toBe("alice/web:v1");
    expect(formatReference({ registry: "127.0.0.1:5000", path: "alice/web", tag: "v1" })).toBe("127.0.0.1:5000/alice/web:v1");
    expect(formatRepository({ registry: "127.0.0.1:5000", path: "team/app" })).toBe("127.0.0.1:5000/team/app");
    expect(formatRepository({ registry: "docker.io", path: "alice/web" })).toBe("alice/web");
    expect(imageUrl({ registry: "docker.io", path: "alice/web", tag: "v1" })).toBe("https://hub.docker.com/r/alice/web");
    expect(imageUrl({ registry: "ghcr.io", path: "alice/web", tag: "v1" })).toBe("https://ghcr.io/v2/alice/web/tags/list");
  });

  it("never accepts a tag or path component outside Docker's own regular expressions", () => {
    const dockerTag = /^[\w][\w.-]{0,127}$/;
    const dockerComponent = /^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$/;
    fc.assert(
      fc.property(fc.string({ maxLength: 140 }), (value) => {
        expect(checkTag(value) === null).toBe(dockerTag.test(value));
        expect(checkPathComponent(value) === null).toBe(dockerComponent.test(value));
      }),
      { numRuns: 2000 },
    );
  });

  it("accepts every name built from the grammar", () => {
    const alnum = fc.stringMatching(/^[a-z0-9]{1,8}$/);
    const separator = fc.constantFrom(".", "_", "__", "-", "--");
    const component = fc.tuple(alnum, fc.array(fc.tuple(separator, alnum), { maxLength: 3 })).map(
      ([head, rest]) => head + rest.map(([sep, part]) => sep + part).join(""),
    );
    fc.assert(
      fc.property(component, (value) => {
        expect(checkPathComponent(value)).toBeNull();
      }),
    );
  });
});

describe("parseReference", () => {
  it.each([
    ["127.0.0.1:5000/team/web:v2", { registry: "127.0.0.1:5000", path: "team/web", tag: "v2" }],
    ["localhost/web", { registry: "localhost", path: "web", tag: "latest" }],
    ["registry.example.com/a/b/c:1.0", { registry: "registry.example.com", path: "a/b/c", tag: "1.0" }],
    ["alice/web:edge", { registry: "docker.io", path: "alice/web", tag: "edge" }],
    ["[::1]:5000/web:x", { registry: "[::1]:5000", path: "web", tag: "x" }],
  ])("reads %s", (text, image) => {
    expect(parseReference(text)).toEqual({ image });
  });
  it.each(["", "Alice/web", "r.io/web@sha256:" + "a".repeat(64), "r.io/web:", "r.io/:x", "r.io:0/web", "web:bad tag", "a//b"])(
    "refuses %j",
    (text) => expect(parseReference(text)).toHaveProperty("error"),
  );
  it("formats back to what it read", () => {
    expect(formatReference((parseReference("127.0.0.1:5000/team/web:v2") as { image: ImageName }).image)).toBe("127.0.0.1:5000/team/web:v2");
  });
});
