import { describe, expect, it } from "vitest";
import { matchToken, parseTokens } from "../../worker/tokens";

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

describe("token lists", () => {
  it("matches plain and sha256: entries, and two tokens of one tenant during a rotation", async () => {
    const entries = await parseTokens(`alice=new-token, alice=sha256:${await sha256Hex("old-token")}, bob=bob-token`);
    expect((await matchToken(entries, "new-token"))?.name).toBe("alice");
    expect((await matchToken(entries, "old-token"))?.name).toBe("alice");
    expect((await matchToken(entries, "bob-token"))?.name).toBe("bob");
    expect(await matchToken(entries, "sha256:" + (await sha256Hex("old-token")))).toBeNull();
    expect(await matchToken(entries, "")).toBeNull();
  });

  it("names entries without a name by position, and ignores empty entries", async () => {
    const entries = await parseTokens("first,, second ,");
    expect(entries.map((entry) => entry.name)).toEqual(["token-1", "token-2"]);
    expect((await matchToken(entries, "second"))?.name).toBe("token-2");
    expect(await parseTokens(undefined)).toEqual([]);
  });
});
