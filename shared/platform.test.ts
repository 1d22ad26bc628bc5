import { describe, expect, it } from "vitest";
import { buildFields } from "./api";
import { PLATFORM_TEXT, platformMatches } from "./platform";
import { buildOptions } from "./protocol";

describe("platforms", () => {
  it.each(["linux/amd64", "linux/arm64/v8", "windows/amd64", "linux/arm/v6"])("reads %s", (text) => expect(PLATFORM_TEXT.test(text)).toBe(true));
  it.each(["linux", "Linux/amd64", "linux/amd64/", "linux//v8", "linux/amd64/v8/x", "linux/amd 64", ""])("refuses %j", (text) =>
    expect(PLATFORM_TEXT.test(text)).toBe(false),
  );
  it("has one bound: the longest platform the API takes, an agent reads in its assignment", () => {
    const longest = `${"o".repeat(32)}/${"a".repeat(32)}/${"v".repeat(16)}`;
    expect(buildFields.safeParse({ user_name: "u", repo: "r", platform: longest }).success).toBe(true);
    expect(buildOptions.safeParse({ platform: longest }).success).toBe(true);
    expect(buildOptions.safeParse({ platform: "Linux/AMD64" }).success).toBe(false);
  });

  it("matches the same platform, with the variants Docker implies", () => {
    expect(platformMatches("linux/amd64", "linux/amd64")).toBe(true);
    expect(platformMatches("linux/arm64", "linux/arm64/v8")).toBe(true);
    expect(platformMatches("linux/arm64/v8", "linux/arm64")).toBe(true);
    expect(platformMatches("linux/arm/v6", "linux/arm")).toBe(false);
    expect(platformMatches("linux/arm64", "linux/amd64")).toBe(false);
    expect(platformMatches("windows/amd64", "linux/amd64")).toBe(false);
  });
  it("takes any agent for a build that names no platform, and none too old to say for one that does", () => {
    expect(platformMatches(undefined, null)).toBe(true);
    expect(platformMatches("linux/amd64", null)).toBe(false);
  });
});
