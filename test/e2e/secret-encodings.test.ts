/**
 * A registry password in the encodings a build prints it in: a RUN step
 * prints it base64-encoded (at each alignment) and URL-encoded. The log shows
 * `***` where each was, and no form of the password is found in any
 * response, in the Worker's and the agent's output, or in the persisted
 * wrangler state (R2 objects and SQLite). The password never appears in the
 * Dockerfile or in one file of the context: the build puts it together from
 * two halves. A password with a newline is refused.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ok } from "../../harness/api";
import { startStack, type Stack } from "../../harness/stack";

/** Characters that URL encoding and base64 both change, so each form differs from the others. */
const PASSWORD = `pw-${crypto.randomUUID().slice(0, 8)}/+&=:é`;

let stack: Stack;
const responses: string[] = [];

beforeAll(async () => {
  stack = await startStack({ registryPassword: PASSWORD });
});

afterAll(async () => {
  await stack?.stop();
});

/** Every form of the password this test looks for, worked out here (not with the redactor under test). */
function forms(secret: string): string[] {
  const bytes = Buffer.from(secret);
  const base64 = [0, 1, 2].map((offset) => {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString("base64").replace(/=+$/, "");
    // Leave out the characters that mix in the bytes before and after.
    return encoded.slice(Math.ceil((offset * 8) / 6), Math.floor(((offset + bytes.length) * 8) / 6));
  });
  return [secret, encodeURIComponent(secret), ...base64];
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile());
}

describe("secrets in encodings", () => {
  it("shows *** where a build printed the password base64-encoded or URL-encoded, and keeps no form of it anywhere", async () => {
    const half = Math.floor(PASSWORD.length / 2);
    const encoded = encodeURIComponent(PASSWORD);
    const dockerfile = [
      `FROM ${stack.baseImage}`,
      "COPY p1 p2 u1 u2 /s/",
      "RUN cat /s/p1 /s/p2 | base64",
      "RUN (printf x; cat /s/p1 /s/p2) | base64",
      "RUN (printf xy; cat /s/p1 /s/p2; echo) | base64",
      "RUN cat /s/u1 /s/u2; echo",
      "",
    ].join("\n");
    const files = [
      { name: "p1", content: PASSWORD.slice(0, half) },
      { name: "p2", content: PASSWORD.slice(half) },
      { name: "u1", content: encoded.slice(0, half) },
      { name: "u2", content: encoded.slice(half) },
    ];
    const response = await stack.api.submitSeedBuild({
      query: { user_name: stack.secrets.registryUser, repo: "secrets", tag: "v1", registry: stack.registry.host },
      fields: { password: PASSWORD },
      dockerfile,
      files,
    });
    responses.push(JSON.stringify(response.body));
    const { task_id: id } = ok(response);
    const final = await stack.api.waitForStatus(id);
    responses.push(JSON.stringify(final));
    // The password also logged in and pushed: the build really used it.
    expect(final).toMatchObject({ status: "success" });

    const log = await stack.api.log(id);
    responses.push(log);
    const printed = log.split("\n").filter((line) => line.includes("***"));
    expect(printed.length).toBeGreaterThanOrEqual(4);
    // No line decodes to the password at any alignment.
    for (const line of log.split("\n")) {
      for (const token of line.match(/[A-Za-z0-9+/]{8,}={0,2}/g) ?? []) {
        for (const offset of ["", "A", "AA", "AAA"]) expect(Buffer.from(offset + token, "base64").includes(PASSWORD)).toBe(false);
      }
    }
    const live: string[] = [];
    for await (const message of stack.api.followLog(id)) live.push(JSON.stringify(message));
    responses.push(...live);

    for (const form of forms(PASSWORD)) {
      expect(responses.join("\n")).not.toContain(form);
      expect(stack.allOutput()).not.toContain(form);
      for (const file of filesUnder(stack.worker.persistDir)) expect(readFileSync(file).includes(form), `${form} in ${file}`).toBe(false);
    }
  });

  it("refuses a password with a newline, naming the field", async () => {
    const response = await stack.api.submitSeedBuild({
      query: { user_name: stack.secrets.registryUser, repo: "secrets", tag: "v2", registry: stack.registry.host },
      fields: { password: "first-half\nsecond-half" },
      dockerfile: `FROM ${stack.baseImage}\n`,
    });
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ field: "password", error: expect.stringMatching(/control characters/) });
  });
});
