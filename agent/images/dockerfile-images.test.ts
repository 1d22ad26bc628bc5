import { describe, expect, it } from "vitest";
import { DockerfileError, expand, imagesInDockerfile, readDockerfile } from "./dockerfile-images";

const AMD64 = { os: "linux", architecture: "amd64" };
const images = (dockerfile: string, buildArgs: Record<string, string> = {}) =>
  imagesInDockerfile(dockerfile, buildArgs, AMD64).map((image) => image.reference);

describe("imagesInDockerfile", () => {
  it("names every FROM, but not stages, scratch or an index of an earlier stage", () => {
    const dockerfile = [
      "FROM golang:1.22 AS build",
      "RUN make",
      "from Build AS again",
      "FROM scratch",
      "COPY --from=build /out /out",
      "COPY --from=0 /x /x",
      "COPY --from=alice/tools:2 /bin/tool /bin/tool",
      "FROM registry.example.com:5000/base@sha256:" + "a".repeat(64),
    ].join("\n");
    expect(images(dockerfile)).toEqual(["golang:1.22", "alice/tools:2", `registry.example.com:5000/base@sha256:${"a".repeat(64)}`]);
  });

  it("takes COPY --from a stage defined further down as that stage, and FROM such a name as an image", () => {
    expect(images("FROM scratch\nCOPY --from=later /x /x\nCOPY --from=1 /y /y\nFROM alice/tools:1 AS later\n")).toEqual(["alice/tools:1"]);
    expect(images("FROM later\nFROM alice/tools:1 AS later\n")).toEqual(["later", "alice/tools:1"]);
  });

  it("expands global ARGs in FROM, with the build's arguments overriding only declared ones", () => {
    const dockerfile = [
      "ARG REGISTRY=127.0.0.1:5000",
      'ARG NAME="team/base" TAG',
      "ARG FULL=${REGISTRY}/${NAME}",
      "FROM ${FULL}:${TAG:-1}",
      "ARG STAGE_ONLY=nope",
      "FROM $UNDECLARED_ONE$REGISTRY/other",
    ].join("\n");
    expect(images(dockerfile)).toEqual(["127.0.0.1:5000/team/base:1", "127.0.0.1:5000/other"]);
    expect(images(dockerfile, { TAG: "2", REGISTRY: "reg.example", UNDECLARED_ONE: "x" })).toEqual([
      "reg.example/team/base:2",
      "reg.example/other",
    ]);
  });

  it("knows BuildKit's platform arguments in FROM", () => {
    expect(images("FROM --platform=$BUILDPLATFORM base-$TARGETARCH:1\n")).toEqual(["base-amd64:1"]);
  });

  it("names images mounted by RUN, and the # syntax frontend apart from the images", () => {
    const dockerfile = [
      "# syntax = 127.0.0.1:5000/frontend:1",
      "# escape=\\",
      "FROM base AS b",
      "RUN --mount=type=cache,target=/c,from=b --mount=type=bind,source=/x,from=alice/data:1,target=/d make",
      "RUN --mount=type=secret,id=token cat /run/secrets/token",
    ].join("\n");
    expect(images(dockerfile)).toEqual(["base", "alice/data:1"]);
    expect(readDockerfile(dockerfile, {}, AMD64).frontends).toEqual([{ reference: "127.0.0.1:5000/frontend:1", where: "# syntax (line 1)" }]);
  });

  it("tells whether a RUN step mounts a secret", () => {
    const mounts = (dockerfile: string) => readDockerfile(dockerfile, {}, AMD64).mountsSecrets;
    expect(mounts("FROM a\nRUN --mount=type=secret,id=npm npm ci\n")).toBe(true);
    expect(mounts("FROM a\nRUN --mount=id=npm,TYPE=Secret npm ci\n")).toBe(true);
    expect(mounts("FROM a\nRUN --mount=type=cache,target=/c make\n")).toBe(false);
    expect(mounts("FROM a\nRUN echo --mount=type=secret\n")).toBe(false);
  });

  it("reads # syntax only at the very top, as a directive", () => {
    const frontends = (dockerfile: string) => readDockerfile(dockerfile, {}, AMD64).frontends;
    expect(frontends("FROM a\n# syntax=evil/frontend\n")).toEqual([]);
    expect(frontends("# a comment\n# syntax=evil/frontend\nFROM a\n")).toEqual([]);
  });

  it("joins continuation lines, skipping comments inside them, with either escape character", () => {
    expect(images("FROM \\\n  # a comment\n\n  alice/base:1 \\\n  AS x\nCOPY --from=x / /\n")).toEqual(["alice/base:1"]);
    expect(images("# escape=`\nFROM `\n  alice/base:2\n")).toEqual(["alice/base:2"]);
  });

  it("reads lines that might be a heredoc's body as instructions: the check may name an image too many, never one too few", () => {
    expect(images("FROM a\nRUN cat <<EOF\nFROM hidden/private\nEOF\n")).toEqual(["a", "hidden/private"]);
  });

  it("refuses a FROM that expands to nothing", () => {
    expect(() => images("ARG BASE\nFROM $BASE\n")).toThrow(DockerfileError);
    expect(() => images("ARG BASE\nFROM $BASE\n")).toThrow(/line 2/);
  });
});

describe("expand", () => {
  const variables = new Map([
    ["A", "a"],
    ["EMPTY", ""],
  ]);
  it("follows the shell's forms", () => {
    expect(expand("$A ${A} ${B:-x} ${EMPTY:-y} ${EMPTY-z} ${A:+set} ${B:+unset} ${EMPTY+plus}", variables)).toBe("a a x y  set  plus");
    expect(expand("\\$A and $", variables)).toBe("$A and $");
  });
});
