/**
 * Changes that meet a reload, or instances whose configs differ: an
 * operator's newer word is never lost or undone, and an override a config
 * cannot run never fails requests.
 */
import { describe, expect, test } from "bun:test";
import { type BalancerApp, createBalancer } from "../../../src/app/balancer.ts";
import { planOverrides } from "../../../src/app/reload-plan.ts";
import { validateConfig } from "../../../src/config/load.ts";
import type { Config } from "../../../src/config/schema.ts";
import type { Platform } from "../../../src/platform.ts";
import { ListenerSet } from "../../../src/runtimes/server/listeners.ts";
import { MemoryStateStore } from "../../../src/state/memory.ts";
import { draftOf, emptyGroup, frozenSnapshot } from "../../../src/state/store.ts";
import { quietPlatform } from "../quiet-platform.ts";

const BLUE = "http://10.0.0.1";
const GREEN = "http://10.0.0.2";

function configOf(groups: string[], listeners = 1): Config {
  const urls: Record<string, string> = { blue: BLUE, green: GREEN };
  return validateConfig({
    listen: Array.from({ length: listeners }, (_, i) => ({ port: 8080 + i })),
    targetGroups: Object.fromEntries(groups.map((g) => [g, { targets: [{ url: urls[g] }] }])),
    defaultAction: { forward: "blue" },
    admin: { api: false },
  });
}

/** A platform whose targets answer with their origin, and whose log is kept. */
function recording(store: MemoryStateStore, log: string[]): Platform {
  return { ...quietPlatform, state: store, upstream: async (req) => new Response(req.origin), log: (line) => void log.push(line) };
}

const servedBy = async (app: BalancerApp) => {
  const r = await app.fetch(new Request("http://lb.test/"));
  return r.status === 200 ? await r.text() : `status ${r.status}`;
};

describe("a reload meeting other changes", () => {
  test("a blue/green switch made while a reload binds its listeners is in force after the reload", async () => {
    const app = createBalancer(configOf(["blue", "green"]), recording(new MemoryStateStore(), []));
    let release!: () => void;
    const gate = new Promise<void>((ok) => (release = ok));
    const set = new ListenerSet({
      runtime: "bun",
      readText: async () => "",
      log: () => {},
      secondPort: true,
      bind: async (l) => {
        if (l.port === 8081) await gate; // the reload's new listener binds slowly
        return { port: l.port, stop: async () => {}, forceClose: () => {} };
      },
    }, (key) => app.balancer.handler(key));
    await set.start(app.balancer.config);
    app.balancer.attachListeners(set);
    await app.balancer.ready();

    const reloading = app.balancer.reload("test", { config: { config: configOf(["blue", "green"], 2), version: "v2" } });
    await Bun.sleep(5);
    const switched = app.balancer.control.route("default", { forward: "green" }, "operator");
    await Bun.sleep(5);
    release();
    await Promise.all([reloading, switched]);
    expect(await servedBy(app)).toBe(GREEN);
  });

  test("the prune of a reload leaves an override the operator changed after the plan", () => {
    // Planned while rule 10 forwarded to a group the new file lacks; meanwhile rule 10 was set to blue.
    const snapshot = frozenSnapshot({ groups: { blue: emptyGroup() }, actions: { default: { forward: "green" } } }, 3, 1);
    const plan = planOverrides(configOf(["blue"]), snapshot);
    expect(plan.dropped).toEqual(['rule default: {"forward":"green"} (no target group green any more)']);
    const draft = draftOf(snapshot);
    draft.actions.default = { forward: "blue" };
    plan.prune!(draft);
    expect(draft.actions.default).toEqual({ forward: "blue" });
    const unchanged = draftOf(snapshot);
    plan.prune!(unchanged);
    expect(unchanged.actions.default).toBeUndefined();
  });
});

describe("instances whose configs differ, sharing one store", () => {
  test("an override naming a group this config lacks is not applied here (the file's action serves, no 500) and is logged once", async () => {
    const store = new MemoryStateStore();
    const logA: string[] = [];
    const logB: string[] = [];
    const a = createBalancer(configOf(["blue", "green"]), recording(store, logA));
    const b = createBalancer(configOf(["blue"]), recording(store, logB));
    await Promise.all([a.balancer.ready(), b.balancer.ready()]);
    await a.balancer.control.route("default", { forward: "green" }, "operator");
    await b.balancer.snapshots.refresh();
    expect(await servedBy(a)).toBe(GREEN);
    expect(await servedBy(b)).toBe(BLUE);
    await b.balancer.snapshots.refresh();
    expect(logB.filter((l) => l.includes("not applied here"))).toEqual([
      "state: action overrides not applied here, the rule keeps its config action: rule default (no target group green)",
    ]);
  });

  test("a reload removing the group an override names never answers 500 in between", async () => {
    const store = new MemoryStateStore();
    const app = createBalancer(configOf(["blue", "green"]), recording(store, []));
    await app.balancer.ready();
    await app.balancer.control.route("default", { forward: "green" }, "operator");
    expect(await servedBy(app)).toBe(GREEN);
    // The store refuses the prune: the override outlives the reload.
    const update = store.update.bind(store);
    store.update = () => Promise.reject(new Error("store down"));
    const r = await app.balancer.reload("test", { config: { config: configOf(["blue"]), version: "v2" } });
    store.update = update;
    expect(r.overrides.dropped).toEqual(['rule default: {"forward":"green"} (no target group green any more)']);
    expect(await servedBy(app)).toBe(BLUE);
  });
});
