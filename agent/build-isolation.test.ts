import { describe, expect, it } from "vitest";
import { renderEvent } from "../shared/build-log";
import { isolationOptions, limitsEvent } from "./build-isolation";

const UNLIMITED = { network: undefined, memoryBytes: undefined, cpus: undefined };

describe("isolationOptions", () => {
  it("passes nothing when the operator set nothing, leaving the daemon's defaults", () => {
    expect(isolationOptions(UNLIMITED)).toEqual({});
  });

  it("gives memory+swap the memory limit, so swap cannot stretch it", () => {
    expect(isolationOptions({ ...UNLIMITED, memoryBytes: 16 * 1024 ** 2 })).toEqual({ memory: 16 * 1024 ** 2, memswap: 16 * 1024 ** 2 });
  });

  it("turns CPUs into a CFS quota of Docker's 100 ms period, as docker run --cpus does", () => {
    expect(isolationOptions({ ...UNLIMITED, cpus: 1.5 })).toEqual({ cpuperiod: 100_000, cpuquota: 150_000 });
    expect(isolationOptions({ ...UNLIMITED, cpus: 0.333 })).toMatchObject({ cpuquota: 33_300 });
  });

  it("passes the network mode", () => {
    expect(isolationOptions({ ...UNLIMITED, network: "none" })).toEqual({ networkmode: "none" });
  });
});

describe("limitsEvent", () => {
  it("says what RUN steps get, limits or none, and the time limit", () => {
    expect(limitsEvent(UNLIMITED, 60)).toEqual({ type: "limits", network: null, memoryBytes: null, cpus: null, timeLimitSeconds: 60 });
    expect(renderEvent(limitsEvent(UNLIMITED, 60))).toBe(
      "[dockify] RUN steps get network default (bridge), no memory limit, no CPU limit; time limit 60 s",
    );
    expect(renderEvent(limitsEvent({ network: "none", memoryBytes: 512 * 1024 ** 2, cpus: 1.5 }, 3600))).toBe(
      "[dockify] RUN steps get network none, memory 512 MiB, 1.5 CPUs; time limit 3600 s",
    );
  });
});
