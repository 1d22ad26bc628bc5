import { describe, expect, it } from "vitest";
import { assignMessage, type Assignment } from "../shared/protocol";
import { REDACTED } from "../shared/redact";
import { jobRedactor } from "./job-secrets";

const LEASE_TOKEN = "lease-".padEnd(40, "x");
const AGENT_TOKEN = "agent-token-123";

function assignment(password?: string): Assignment {
  return assignMessage.parse({
    type: "assign",
    jobId: crypto.randomUUID(),
    attempt: 1,
    leaseToken: LEASE_TOKEN,
    contextPath: "/agent/jobs/1/context",
    image: { reference: "127.0.0.1:5000/a/b:v1", registry: "127.0.0.1:5000", path: "a/b", tag: "v1" },
    ...(password === undefined ? {} : { auth: { username: "alice", password, serveraddress: "127.0.0.1:5000" } }),
  });
}

describe("jobRedactor", () => {
  it("hides the registry password, the agent token and the lease token, every time they occur", () => {
    const redact = jobRedactor(assignment("hunter2"), AGENT_TOKEN);
    expect(redact(`login hunter2 failed; hunter2 again, ${AGENT_TOKEN} and ${LEASE_TOKEN}`)).toBe(
      `login ${REDACTED} failed; ${REDACTED} again, ${REDACTED} and ${REDACTED}`,
    );
  });

  it("hides the percent-encoded form of the password", () => {
    const redact = jobRedactor(assignment("p@ss w/rd"), AGENT_TOKEN);
    expect(redact("GET https://alice:p%40ss%20w%2Frd@registry/v2/ with p@ss w/rd")).toBe(
      `GET https://alice:${REDACTED}@registry/v2/ with ${REDACTED}`,
    );
  });

  it("treats regular-expression characters in a password literally", () => {
    const redact = jobRedactor(assignment("a.b*c$"), AGENT_TOKEN);
    expect(redact("aXbbc a.b*c$")).toBe(`aXbbc ${REDACTED}`);
  });

  it("works for a job without registry credentials, or with an empty password", () => {
    expect(jobRedactor(assignment(), AGENT_TOKEN)(`nothing to hide but ${AGENT_TOKEN}`)).toBe(`nothing to hide but ${REDACTED}`);
    expect(jobRedactor(assignment(""), AGENT_TOKEN)("nothing to hide")).toBe("nothing to hide");
  });

  it("hides every login's password and every build secret too", () => {
    const job = assignMessage.parse({
      ...assignment("pw-a"),
      logins: [{ username: "bob", password: "pw-b", serveraddress: "127.0.0.1:6000" }],
      secrets: [{ id: "npm", value: "npm-token-xyz" }],
    });
    expect(jobRedactor(job, AGENT_TOKEN)("pw-a pw-b npm-token-xyz")).toBe(`${REDACTED} ${REDACTED} ${REDACTED}`);
  });
});
