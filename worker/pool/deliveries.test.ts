import { env, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import type { Build } from "../../shared/api";
import { settings } from "../settings";
import { Counters } from "./counters";
import { MAX_IN_FLIGHT_PER_TENANT, WebhookDeliveries } from "./deliveries";

const BUILD = { id: "job" } as unknown as Build;
const realFetch = globalThis.fetch;
afterEach(() => {
  globalThis.fetch = realFetch;
});

describe("webhook deliveries", () => {
  it("keeps one tenant's dead receiver to that tenant's places: the others' deliveries go out, and the alarm does not spin", async () => {
    // A receiver that never answers (until the test lets go) and one that answers at once.
    const hung: Array<() => void> = [];
    globalThis.fetch = (async (input: RequestInfo | URL) => {
      const url = String(input instanceof Request ? input.url : input);
      if (url.includes("/hang")) return new Promise<Response>((resolve) => hung.push(() => resolve(new Response("late", { status: 200 }))));
      return new Response("ok", { status: 200 });
    }) as typeof fetch;

    const stub = env.POOL.get(env.POOL.idFromName("deliveries-fairness"));
    await runInDurableObject(stub, async (_pool, state) => {
      const sql = state.storage.sql;
      const deliveries = new WebhookDeliveries(sql, env, settings(env), new Counters(sql), () => BUILD, async () => undefined);
      const now = Date.now();
      for (let index = 0; index < MAX_IN_FLIGHT_PER_TENANT + 2; index++) {
        deliveries.create({ id: `alice-${index}`, tenant: "alice", notifyUrl: "http://127.0.0.1:1/hang" }, now);
      }
      deliveries.create({ id: "bob-1", tenant: "bob", notifyUrl: "http://127.0.0.1:1/fast" }, now);
      deliveries.sendDue(now);

      const states = () =>
        sql.exec<{ job_id: string; state: string }>("SELECT job_id, state FROM webhook_deliveries ORDER BY job_id").toArray();
      await expect.poll(() => states().find((row) => row.job_id === "bob-1")?.state).toBe("delivered");
      // Alice has her places on the wire and the rest waits; nothing of hers is due for the alarm meanwhile.
      expect(hung).toHaveLength(MAX_IN_FLIGHT_PER_TENANT);
      expect(deliveries.nextDue()).toBeNull();

      // One of hers answers: a place is free, and the next of hers is due at once.
      hung.shift()!();
      await expect.poll(() => states().filter((row) => row.job_id.startsWith("alice") && row.state === "delivered").length).toBe(1);
      expect(deliveries.nextDue()).not.toBeNull();
      for (const release of hung.splice(0)) release();
      await deliveries.settle();
    });
  });
});
