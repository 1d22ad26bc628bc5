import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ErrorBody } from "../../shared/api";
import app from "../../worker/index";
import { settings, SettingsError } from "../../worker/settings";
import { ALICE, BASE } from "./helpers";

describe("Worker settings", () => {
  it("reads every variable, with defaults for the unset ones", () => {
    expect(settings({ DOCKIFY_LEASE_SECONDS: "12", DOCKIFY_MAX_FILES: "" })).toMatchObject({ leaseMs: 12_000, heartbeatMs: 5_000, maxFiles: 200 });
  });

  it("refuses a bad value instead of falling back to the default, naming every bad variable", () => {
    const read = () => settings({ DOCKIFY_LEASE_SECONDS: "3O", DOCKIFY_MAX_ATTEMPTS: "0", DOCKIFY_HEARTBEAT_SECONDS: "9999999999" });
    expect(read).toThrow(SettingsError);
    expect(read).toThrow(/DOCKIFY_LEASE_SECONDS must be a whole number of seconds \(got "3O"\)/);
    expect(read).toThrow(/DOCKIFY_MAX_ATTEMPTS must be from 1/);
    expect(read).toThrow(/DOCKIFY_HEARTBEAT_SECONDS must be from 1 to 2147483 seconds/);
  });

  it("caps DOCKIFY_MAX_PART_BYTES at 32 MiB: a part is held whole in the Worker's memory", () => {
    expect(settings({ DOCKIFY_MAX_PART_BYTES: String(32 * 1024 * 1024) })).toMatchObject({ maxPartBytes: 32 * 1024 * 1024 });
    expect(() => settings({ DOCKIFY_MAX_PART_BYTES: String(32 * 1024 * 1024 + 1) })).toThrow(/DOCKIFY_MAX_PART_BYTES must be from 5242880 to 33554432 bytes/);
  });

  it("takes any spelling of a whole number, as before", () => {
    expect(settings({ DOCKIFY_LEASE_SECONDS: "30.0", DOCKIFY_MAX_REQUEST_BYTES: "3.2e7", DOCKIFY_MAX_FILES: " 12 " })).toMatchObject({
      leaseMs: 30_000,
      maxRequestBytes: 32_000_000,
      maxFiles: 12,
    });
  });

  it("answers 503 naming the variable on every authenticated route, and says nothing of it without a token", async () => {
    const broken = { ...env, DOCKIFY_LEASE_SECONDS: "3O" };
    const anonymous = await app.request(`${BASE}/v1/builds`, {}, broken);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.text()).not.toContain("DOCKIFY_LEASE_SECONDS");
    for (const path of ["/status/5d0f3c36-0000-4000-8000-000000000000", "/v1/builds"]) {
      const response = await app.request(`${BASE}${path}`, { headers: { Authorization: ALICE } }, broken);
      expect(response.status).toBe(503);
      expect(await response.json<ErrorBody>()).toEqual({
        error: 'the server is not configured: DOCKIFY_LEASE_SECONDS must be a whole number of seconds (got "3O")',
        field: "DOCKIFY_LEASE_SECONDS",
      });
    }
  });
});
