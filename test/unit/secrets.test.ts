import { describe, expect, it } from "vitest";
import { MissingSecretKeyError, open, seal, UnreadableSecretError } from "../../worker/secrets";

const OLD = "old-secret-key-0123456789abcdefghijklmnop";
const NEW = "new-secret-key-0123456789abcdefghijklmnop";
const JOB = "5d0f3c36-0000-4000-8000-000000000001";

describe("sealed registry passwords", () => {
  it("round-trips, and the stored bytes do not contain the password", async () => {
    const sealed = await seal(NEW, JOB, "hunter2-password");
    expect(Buffer.from(sealed).includes("hunter2-password")).toBe(false);
    expect(await open([NEW], JOB, sealed)).toBe("hunter2-password");
  });

  it("opens values sealed before a key rotation with the previous key", async () => {
    const sealed = await seal(OLD, JOB, "pw");
    expect(await open([NEW, OLD], JOB, sealed)).toBe("pw");
    await expect(open([NEW], JOB, sealed)).rejects.toBeInstanceOf(UnreadableSecretError);
  });

  it("binds a sealed value to its job: copied to another job's row it does not open", async () => {
    const sealed = await seal(NEW, JOB, "pw");
    await expect(open([NEW], "5d0f3c36-0000-4000-8000-000000000002", sealed)).rejects.toBeInstanceOf(UnreadableSecretError);
  });

  it("refuses to seal with a missing or short key", async () => {
    await expect(seal(undefined, JOB, "pw")).rejects.toBeInstanceOf(MissingSecretKeyError);
    await expect(seal("short", JOB, "pw")).rejects.toBeInstanceOf(MissingSecretKeyError);
  });
});
