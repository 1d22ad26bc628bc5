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

  it("names entries without a name after their hash, so reordering renames nobody, and ignores empty entries", async () => {
    const entries = await parseTokens("first,, second ,");
    const names = entries.map((entry) => entry.name);
    expect(names).toEqual([`token-${(await sha256Hex("first")).slice(0, 8)}`, `token-${(await sha256Hex("second")).slice(0, 8)}`]);
    expect((await parseTokens("second,first")).map((entry) => entry.name)).toEqual([...names].reverse());
    expect(await parseTokens(undefined)).toEqual([]);
  });

  it("keeps base64 padding as part of a nameless token", async () => {
    const entries = await parseTokens("abc==,ops=def==");
    expect(await matchToken(entries, "abc==")).not.toBeNull();
    expect((await matchToken(entries, "def=="))?.name).toBe("ops");
  });
});
