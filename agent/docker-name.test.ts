import { describe, expect, it } from "vitest";
import { normalizedReference } from "./docker-name";

describe("normalizedReference", () => {
  it("gives every spelling of one Docker Hub tag the same name, as Docker does", () => {
    const hub = ["alice/web:latest", "docker.io/alice/web:latest", "index.docker.io/alice/web:latest"];
    expect(hub.map(normalizedReference)).toEqual(hub.map(() => "docker.io/alice/web:latest"));
    const official = ["web:1", "library/web:1", "docker.io/web:1", "index.docker.io/library/web:1"];
    expect(official.map(normalizedReference)).toEqual(official.map(() => "docker.io/library/web:1"));
  });

  it("keeps a registry's name, which only a host-like first component is", () => {
    expect(normalizedReference("127.0.0.1:5000/alice/web:v1")).toBe("127.0.0.1:5000/alice/web:v1");
    expect(normalizedReference("localhost/alice/web:v1")).toBe("localhost/alice/web:v1");
    expect(normalizedReference("registry.example.com/web:v1")).toBe("registry.example.com/web:v1");
    // No dot, no port, not localhost: a user's namespace on Docker Hub.
    expect(normalizedReference("myregistry/alice/web:v1")).toBe("docker.io/myregistry/alice/web:v1");
  });
});
