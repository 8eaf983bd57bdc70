/**
 * The Durable Object's alarm survives a storage call that fails once. A
 * transient storage error cannot be caused on real workerd/Miniflare, so the
 * object's context is a stand-in here whose `getAlarm` throws once; the
 * alarm's normal life runs on real Miniflare in cloudflare.test.ts.
 */
import { expect, test } from "bun:test";
import { defineFulcrumState, type DurableObjectContext } from "../../../src/runtimes/workerd/durable-object.ts";

test("a failed getAlarm is logged and retried on the next call, not remembered as done", async () => {
  const logs: string[] = [];
  const State = defineFulcrumState(
    {
      listen: { port: 8080 },
      state: { store: "cloudflare" },
      targetGroups: { app: { targets: [{ url: "http://127.0.0.1:9" }], healthCheck: { interval: 10 } } },
      defaultAction: { forward: "app" },
    },
    { log: (l) => logs.push(l) },
  );
  let alarm: number | null = null;
  let failures = 1;
  const ctx = {
    storage: {
      get: async () => undefined,
      put: async () => {},
      getAlarm: async () => {
        if (failures-- > 0) throw new Error("transient storage error");
        return alarm;
      },
      setAlarm: async (t: number) => void (alarm = t),
      deleteAlarm: async () => void (alarm = null),
    },
    blockConcurrencyWhile: <T>(fn: () => Promise<T>) => fn(),
  } as unknown as DurableObjectContext;
  const object = new State(ctx, {});
  const load = () => object.fetch(new Request("https://fulcrum-state/load", { method: "POST", body: "{}" }));
  expect((await load()).status).toBe(200); // the failure does not fail the isolate's call
  expect(alarm).toBeNull();
  expect(logs.some((l) => l.includes("arming the health-check alarm failed") && l.includes("transient storage error"))).toBe(true);
  expect((await load()).status).toBe(200);
  expect(alarm).not.toBeNull(); // armed on the next call
});
