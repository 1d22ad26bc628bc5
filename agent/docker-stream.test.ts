import { describe, expect, it } from "vitest";
import { eventError, eventLogText, pushedDigest, readDockerStream, type DockerStreamLine } from "./docker-stream";

const DIGEST = `sha256:${"ab12".repeat(16)}`;
const encoder = new TextEncoder();

async function readAll(chunks: Array<Uint8Array | string>): Promise<DockerStreamLine[]> {
  async function* source() {
    yield* chunks;
  }
  const lines: DockerStreamLine[] = [];
  for await (const line of readDockerStream(source())) lines.push(line);
  return lines;
}

/** Cuts the encoded text at every given byte offset. */
function splitBytes(text: string, offsets: number[]): Uint8Array[] {
  const bytes = encoder.encode(text);
  const bounds = [0, ...offsets, bytes.length];
  return bounds.slice(1).map((end, i) => bytes.subarray(bounds[i], end));
}

describe("readDockerStream", () => {
  it("joins a JSON line cut in the middle across chunks", async () => {
    const text = '{"stream":"Step 1/2 : FROM scratch\\n"}\r\n{"aux":{"ID":"sha256:1"}}\r\n';
    expect(await readAll(splitBytes(text, [5, 17, 40, 41]))).toEqual([
      { event: { stream: "Step 1/2 : FROM scratch\n" } },
      { event: { aux: { ID: "sha256:1" } } },
    ]);
  });

  it("keeps a multi-byte character whole when a chunk ends inside it", async () => {
    const text = '{"stream":"héllo → 世界 🐳\\n"}\n';
    const bytes = encoder.encode(text);
    const emoji = bytes.indexOf(0xf0);
    for (const cut of [text.indexOf("é") + 1, emoji + 1, emoji + 2, emoji + 3]) {
      expect(await readAll(splitBytes(text, [cut]))).toEqual([{ event: { stream: "héllo → 世界 🐳\n" } }]);
    }
    // Every possible cut, one byte at a time.
    expect(await readAll([...bytes].map((byte) => Uint8Array.of(byte)))).toEqual([{ event: { stream: "héllo → 世界 🐳\n" } }]);
  });

  it("passes non-JSON lines and JSON that is not an object through as text", async () => {
    expect(await readAll(["plain text from a proxy\n", '"a string"\n', '{"stream":"ok\\n"}\n'])).toEqual([
      { text: "plain text from a proxy" },
      { text: '"a string"' },
      { event: { stream: "ok\n" } },
    ]);
  });

  it("skips empty lines and reads a last line without a newline", async () => {
    expect(await readAll(["\n\r\n", '{"status":"done"}'])).toEqual([{ event: { status: "done" } }]);
  });

  it("accepts string chunks", async () => {
    expect(await readAll(['{"stream":"a', '"}\n'])).toEqual([{ event: { stream: "a" } }]);
  });

  it("tolerates fields of an unexpected shape", async () => {
    const [line] = await readAll(['{"id":"moby.image.id","aux":"not an object"}\n']);
    expect(line).toEqual({ event: { id: "moby.image.id", aux: undefined } });
  });

  it("keeps a BuildKit trace's base64 aux as the event's trace", async () => {
    const [line] = await readAll(['{"id":"moby.buildkit.trace","aux":"ZGF0YQ=="}\n']);
    expect(line).toEqual({ event: { id: "moby.buildkit.trace", aux: undefined, trace: "ZGF0YQ==" } });
  });
});

describe("eventError", () => {
  it("reads errorDetail.message, then the deprecated error field", () => {
    const message = "The command '/bin/sh -c exit 1' returned a non-zero code: 1";
    expect(eventError({ errorDetail: { message }, error: message })).toBe(message);
    expect(eventError({ error: "unauthorized: authentication required" })).toBe("unauthorized: authentication required");
    expect(eventError({ stream: "Step 1/2\n" })).toBeUndefined();
  });
});

describe("eventLogText", () => {
  it("passes build output through unchanged", () => {
    expect(eventLogText({ stream: "partial line without newline" })).toBe("partial line without newline");
  });

  it("shows status lines but not progress-bar redraws", () => {
    expect(eventLogText({ status: "Pushed", id: "5f70bf18a086" })).toBe("5f70bf18a086: Pushed\n");
    expect(eventLogText({ status: "The push refers to repository [127.0.0.1:5000/a/b]" })).toBe(
      "The push refers to repository [127.0.0.1:5000/a/b]\n",
    );
    expect(eventLogText({ status: "Pushing", id: "5f70bf18a086", progress: "[==>   ]  1MB/4MB" })).toBeUndefined();
    expect(eventLogText({ aux: { ID: "sha256:1" } })).toBeUndefined();
  });
});

describe("pushedDigest", () => {
  it("reads the digest from the status line of the pushed tag", () => {
    expect(pushedDigest({ status: `v1.2: digest: ${DIGEST} size: 528` }, "v1.2")).toBe(DIGEST);
  });

  it("ignores the status line of another tag and malformed digests", () => {
    expect(pushedDigest({ status: `latest: digest: ${DIGEST} size: 528` }, "v1")).toBeUndefined();
    expect(pushedDigest({ status: "v1: digest: sha256:abc size: 528" }, "v1")).toBeUndefined();
  });

  it("falls back to aux.Digest", () => {
    expect(pushedDigest({ aux: { Digest: DIGEST } }, "v1")).toBe(DIGEST);
    expect(pushedDigest({ aux: { Digest: "sha256:short" } }, "v1")).toBeUndefined();
  });
});
