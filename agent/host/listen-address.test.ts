import { describe, expect, it } from "vitest";
import { formatListenAddress, parseListenAddress } from "./listen-address";

describe("parseListenAddress", () => {
  it("binds a bare port to loopback", () => {
    expect(parseListenAddress("9464")).toEqual({ host: "127.0.0.1", port: 9464, loopback: true });
    expect(parseListenAddress("0")).toEqual({ host: "127.0.0.1", port: 0, loopback: true });
  });

  it("tells loopback addresses from the others", () => {
    expect(parseListenAddress("localhost:9464")).toEqual({ host: "127.0.0.1", port: 9464, loopback: true });
    expect(parseListenAddress("127.0.0.2:1")).toMatchObject({ loopback: true });
    expect(parseListenAddress("[::1]:9464")).toEqual({ host: "::1", port: 9464, loopback: true });
    expect(parseListenAddress("0.0.0.0:9464")).toEqual({ host: "0.0.0.0", port: 9464, loopback: false });
    expect(parseListenAddress("10.0.0.5:9464")).toMatchObject({ loopback: false });
    expect(parseListenAddress("[::]:9464")).toEqual({ host: "::", port: 9464, loopback: false });
  });

  it("refuses host names, missing or too large ports, and anything else", () => {
    expect(parseListenAddress("metrics.example.com:9464")).toEqual({ error: '"metrics.example.com" is not an IP address or localhost' });
    for (const text of ["", ":9464", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "::1:9464", "http://127.0.0.1:9464"]) {
      expect(parseListenAddress(text)).toHaveProperty("error");
    }
  });
});

describe("formatListenAddress", () => {
  it("brackets IPv6", () => {
    expect(formatListenAddress({ host: "::1", port: 80 })).toBe("[::1]:80");
    expect(formatListenAddress({ host: "127.0.0.1", port: 80 })).toBe("127.0.0.1:80");
  });
});
