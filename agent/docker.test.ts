import { describe, expect, it } from "vitest";
import { repositoryOf } from "./docker.ts";

describe("repositoryOf", () => {
  it("drops the tag and keeps a registry's port", () => {
    expect(repositoryOf({ reference: "127.0.0.1:5000/team/app:v1.2", registry: "127.0.0.1:5000", path: "team/app", tag: "v1.2" })).toBe(
      "127.0.0.1:5000/team/app",
    );
  });

  it("keeps Docker Hub references short, as Docker writes them", () => {
    expect(repositoryOf({ reference: "alice/web:latest", registry: "docker.io", path: "alice/web", tag: "latest" })).toBe("alice/web");
  });

  it("refuses a reference that does not end with its tag", () => {
    expect(() => repositoryOf({ reference: "alice/web:v1", registry: "docker.io", path: "alice/web", tag: "v2" })).toThrow(/does not end with its tag v2/);
  });
});
