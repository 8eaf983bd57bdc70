/**
 * The canary controller over a memory store, ticked by hand: it starts a canary, measures a
 * rule's requests on either side (a failed-over canary request counts as a failure, a client
 * that left as nothing), rolls back on the numbers, refuses a command on a record that moved,
 * and lets go of a canary the config no longer has.
 */
import { expect, test } from "bun:test";
import { Canaries } from "../../../src/canary/controller.ts";
import { validateConfig } from "../../../src/config/load.ts";
import { MemoryStateStore } from "../../../src/state/memory.ts";
import type { ChangeEvent, Snapshot } from "../../../src/state/store.ts";

const config = (canary: boolean) =>
  validateConfig({
    listen: { port: 0 },
    targetGroups: { blue: { targets: [{ url: "http://10.0.0.1" }] }, green: { targets: [{ url: "http://10.0.0.2" }] } },
    rules: [{
      priority: 10,
      conditions: [{ pathPattern: { values: ["/*"] } }],
      action: {
        forward: {
          targetGroups: [{ group: "blue", weight: 1 }, { group: "green", weight: 0 }],
          ...(canary ? { canary: { group: "green", steps: [10, 100], interval: 1, minRequests: 10, maxErrorRate: 5 } } : {}),
        },
      },
    }],
    defaultAction: { forward: "blue" },
  });

function setup() {
  const store = new MemoryStateStore();
  let snapshot: Snapshot | undefined;
  let now = 0;
  const events: Omit<ChangeEvent, "at" | "instance">[] = [];
  const canaries = new Canaries({
    store: () => store,
    snapshot: () => snapshot,
    offer: (s) => {
      snapshot = s;
      canaries.follow(s);
    },
    record: async (e) => void events.push(e),
    instance: "one",
    now: () => now,
    timer: (_ms, fire) => (fire(), () => {}),
    log: () => {},
  });
  const tick = async () => {
    now += 1000;
    await canaries.due();
  };
  return { store, canaries, events, tick, snapshot: () => snapshot };
}

test("a failed-over canary request counts as a failure; a client that left counts as nothing; the numbers roll it back", async () => {
  const { canaries, events, tick, snapshot } = setup();
  canaries.configure(config(true));
  await tick();
  expect(snapshot()?.canaries?.["10"]).toMatchObject({ state: "progressing", weight: 10, step: 0 });
  for (let i = 0; i < 20; i++) canaries.observe(10, "green", "green", 200, 5);
  for (let i = 0; i < 50; i++) canaries.observe(10, "green", "green", 499, 5);
  for (let i = 0; i < 2; i++) canaries.observe(10, "green", "fallback", 200, 5);
  for (let i = 0; i < 30; i++) canaries.observe(10, "blue", "blue", 200, 5);
  // Another rule's requests to the same groups are not this canary's.
  for (let i = 0; i < 30; i++) canaries.observe(20, "green", "green", 500, 5);
  await tick();
  const view = (await canaries.status("10"))[0]!;
  expect(view.state).toBe("rolled back");
  expect(view.reason).toContain("5xx rate 9.09 % over maxErrorRate 5.00 % (canary 22 requests, 9.09 % 5xx");
  expect(view.reason).toContain("stable 30 requests");
  expect(events.map((e) => `${e.before} -> ${e.after}`)).toEqual(["not started -> 10 % progressing", "10 % progressing -> 0 % rolled back"]);
  // Its weight as the rule's action: all to blue (the canary block kept, so the route goes on measuring).
  expect(canaries.actions(snapshot()).get(10)).toMatchObject({
    forward: { targetGroups: [{ group: "blue", weight: 100 }, { group: "green", weight: 0 }], canary: { group: "green" } },
  });
});

test("a command on a canary that moved meanwhile is refused with 409, and nothing is written", async () => {
  const { store, canaries, tick } = setup();
  canaries.configure(config(true));
  await tick();
  // Another instance moves it (this one has not seen it yet).
  await store.update((d) => {
    d.canaries!["10"] = { ...d.canaries!["10"]!, weight: 100, step: 1 };
  });
  await expect(canaries.command("10", "abort", "test")).rejects.toMatchObject({ status: 409 });
  expect((await store.load()).canaries?.["10"]?.weight).toBe(100);
});

test("a canary the config no longer has is let go once its lease is free, so the same block added again starts over", async () => {
  const { canaries, events, tick, snapshot } = setup();
  canaries.configure(config(true));
  await tick();
  await canaries.command("10", "promote", "test");
  canaries.configure(config(false));
  await tick();
  expect(snapshot()?.canaries).toEqual({});
  expect(events.at(-1)).toMatchObject({ before: "100 % promoted", after: "removed" });
  canaries.configure(config(true));
  await tick();
  expect(snapshot()?.canaries?.["10"]).toMatchObject({ state: "progressing", weight: 10 });
});
