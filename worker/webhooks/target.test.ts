import { describe, expect, it } from "vitest";
import { classifyAddress, notifyUrlProblem, resolvedAddressProblem } from "./target";

const PRODUCTION = { allowHttpLoopback: false };
const DEV = { allowHttpLoopback: true };

describe("classifyAddress", () => {
  it.each([
    ["8.8.8.8", "public"],
    ["1.1.1.1", "public"],
    ["172.32.0.1", "public"],
    ["100.128.0.1", "public"],
    ["127.0.0.1", "loopback"],
    ["127.255.255.254", "loopback"],
    ["10.0.0.1", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["169.254.169.254", "private"],
    ["100.64.0.1", "private"],
    ["0.0.0.0", "private"],
    ["224.0.0.1", "private"],
    ["255.255.255.255", "private"],
    ["2606:4700:4700::1111", "public"],
    ["::1", "loopback"],
    ["::", "private"],
    ["fe80::1", "private"],
    ["fd12:3456::1", "private"],
    ["::ffff:10.0.0.1", "private"],
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:8.8.8.8", "public"],
    ["64:ff9b::192.168.0.1", "private"],
    ["2002:c0a8:101::1", "private"],
    ["ff02::1", "private"],
  ])("%s is %s", (address, kind) => {
    expect(classifyAddress(address)).toBe(kind);
  });

  it("is null for what is not an address", () => {
    expect(classifyAddress("example.com")).toBeNull();
    expect(classifyAddress("1.2.3.256")).toBeNull();
    expect(classifyAddress("1::2::3")).toBeNull();
  });
});

describe("notifyUrlProblem", () => {
  it("takes public https URLs", () => {
    expect(notifyUrlProblem("https://hooks.example.com/dockify?x=1", PRODUCTION)).toBeNull();
    expect(notifyUrlProblem("https://8.8.8.8:8443/hook", PRODUCTION)).toBeNull();
    expect(notifyUrlProblem("https://[2606:4700:4700::1111]/hook", PRODUCTION)).toBeNull();
  });

  it("refuses other schemes, plain http, and credentials in the URL", () => {
    expect(notifyUrlProblem("http://hooks.example.com/", PRODUCTION)).toMatch(/https/);
    expect(notifyUrlProblem("ftp://hooks.example.com/", PRODUCTION)).toMatch(/https/);
    expect(notifyUrlProblem("https://u:p@hooks.example.com/", PRODUCTION)).toMatch(/user name or password/);
    expect(notifyUrlProblem("hooks.example.com", PRODUCTION)).toMatch(/absolute URL/);
  });

  it("refuses private, link-local and loopback hosts, however the address is spelled", () => {
    for (const url of [
      "https://10.0.0.1/",
      "https://0xa000001/",
      "https://167772161/",
      "https://012.0.0.1/",
      "https://169.254.169.254/latest/meta-data/",
      "https://[::ffff:a00:1]/",
      "https://[fe80::1]/",
      "https://127.0.0.1/",
      "https://2130706433/",
      "https://localhost/",
      "https://api.localhost/",
      "https://printer.local/",
      "https://metadata.google.internal/",
      "https://intranet/",
    ]) {
      expect(notifyUrlProblem(url, PRODUCTION), url).toMatch(/public addresses only/);
    }
  });

  it("lets plain http to loopback through only when the Worker says so", () => {
    expect(notifyUrlProblem("http://127.0.0.1:8080/hook", PRODUCTION)).toMatch(/loopback/);
    expect(notifyUrlProblem("http://127.0.0.1:8080/hook", DEV)).toBeNull();
    expect(notifyUrlProblem("http://localhost:8080/hook", DEV)).toBeNull();
    expect(notifyUrlProblem("http://[::1]:8080/hook", DEV)).toBeNull();
    // Still never a private address or plain http to anywhere else.
    expect(notifyUrlProblem("http://10.0.0.1/hook", DEV)).toMatch(/private/);
    expect(notifyUrlProblem("http://hooks.example.com/hook", DEV)).toMatch(/plain http only to a loopback address/);
  });
});

describe("resolvedAddressProblem", () => {
  it("refuses a name that resolves to a non-public address", () => {
    const url = new URL("https://rebind.example.com/hook");
    expect(resolvedAddressProblem(url, "93.184.216.34", PRODUCTION)).toBeNull();
    expect(resolvedAddressProblem(url, "10.1.2.3", PRODUCTION)).toMatch(/rebind\.example\.com \(10\.1\.2\.3\)/);
    expect(resolvedAddressProblem(url, "::1", PRODUCTION)).toMatch(/loopback/);
    expect(resolvedAddressProblem(url, "::1", DEV)).toBeNull();
    expect(resolvedAddressProblem(url, "not-an-ip", PRODUCTION)).toMatch(/not an IP address/);
  });
});
