/**
 * The config a balancer serves (src/app/overlay.ts): the file's, with the
 * targets operators added and removed through the state store laid over it.
 * First the pure function, then a real balancer whose API adds and removes
 * targets, seen from a second instance sharing the store.
 */
import { afterEach, describe, expect, setSystemTime, test } from "bun:test";
import { type BalancerApp, createBalancer } from "../../../src/app/balancer.ts";
import { overlay } from "../../../src/app/overlay.ts";
import { validateConfig } from "../../../src/config/load.ts";
import type { Config } from "../../../src/config/schema.ts";
import { type UpstreamRequest } from "../../../src/platform.ts";
import { quietPlatform } from "../quiet-platform.ts";
import { MemoryStateStore } from "../../../src/state/memory.ts";
import { emptyGroup, frozenSnapshot, type GroupRecord, type Snapshot } from "../../../src/state/store.ts";

const A = "http://10.0.0.1";
const B = "http://10.0.0.2";
const X = "http://10.0.0.9";
const NOW = 1_700_000_000_000;

const file = (groups: Record<string, string[]> = { app: [A, B], other: ["http://10.0.1.1:80"] }): Config =>
  validateConfig({
    listen: { port: 0 },
    targetGroups: Object.fromEntries(Object.entries(groups).map(([name, urls]) => [name, { targets: urls.map((url) => ({ url })) }])),
    defaultAction: { forward: Object.keys(groups)[0] },
  });

/** A snapshot whose groups have the given records over empty ones. */
const snapshot = (groups: Record<string, Partial<GroupRecord>>): Snapshot =>
  frozenSnapshot({ groups: Object.fromEntries(Object.entries(groups).map(([n, g]) => [n, { ...emptyGroup(), ...g }])), actions: {} }, 1, NOW);

const urls = (config: Config, group = "app") => config.targetGroups[group]!.targets.map((t) => t.url);

describe("overlay: file config + the store's targets", () => {
  test("no snapshot, or one without added or removed targets: the file's config itself, key empty", () => {
    const f = file();
    expect(overlay(f, undefined, NOW)).toEqual({ config: f, key: "", nextChangeAt: undefined });
    // Weights and drains are applied to the pool, not the config: no rebuild for them.
    const laid = overlay(f, snapshot({ app: { weights: { [A]: 5 }, drains: { [B]: { deadline: NOW + 1 } } } }), NOW);
    expect(laid.config).toBe(f);
    expect(laid.key).toBe("");
  });

  test("a target added through the API is in the effective config, after the file's, as the API described it", () => {
    const f = file();
    const laid = overlay(f, snapshot({ app: { added: { [X]: { name: "canary", weight: 7, backup: true } } } }), NOW);
    expect(laid.config.targetGroups.app!.targets.slice(2)).toEqual([{ url: X, name: "canary", weight: 7, backup: true, drain: false }]);
    expect(urls(laid.config)).toEqual([A, B, X]);
    // The other group, and the file's config object, are untouched.
    expect(laid.config.targetGroups.other).toBe(f.targetGroups.other!);
    expect(urls(f)).toEqual([A, B]);
    expect(laid.key).not.toBe("");
  });

  test("an added target the file now lists too is not listed twice", () => {
    const laid = overlay(file(), snapshot({ app: { added: { [A]: { weight: 9, backup: false } } } }), NOW);
    expect(urls(laid.config)).toEqual([A, B]);
    // The file's entry wins: its weight, not the added one's.
    expect(laid.config.targetGroups.app!.targets[0]!.weight).toBe(1);
  });

  test("a removed target stays listed (draining) until its time, then leaves; the time is reported", () => {
    const removedB = snapshot({ app: { removed: { [B]: { at: NOW + 30_000 } } } });
    const before = overlay(file(), removedB, NOW);
    expect(urls(before.config)).toEqual([A, B]);
    expect(before.nextChangeAt).toBe(NOW + 30_000);
    const after = overlay(file(), removedB, NOW + 30_000);
    expect(urls(after.config)).toEqual([A]);
    expect(after.nextChangeAt).toBeUndefined();
    expect(after.key).not.toBe(before.key);
  });

  test("the next change is the earliest removal still to come", () => {
    const f = file({ app: [A, B, X, "http://10.0.0.4"] });
    const laid = overlay(f, snapshot({ app: { removed: { [B]: { at: NOW + 9_000 }, [X]: { at: NOW + 2_000 }, [A]: { at: NOW - 1 } } } }), NOW);
    expect(laid.nextChangeAt).toBe(NOW + 2_000);
    expect(urls(laid.config)).toEqual([B, X, "http://10.0.0.4"]);
  });

  test("an added target that was then removed leaves like a file's", () => {
    const laid = overlay(file(), snapshot({ app: { added: { [X]: { weight: 1, backup: false } }, removed: { [X]: { at: NOW } } } }), NOW);
    expect(urls(laid.config)).toEqual([A, B]);
  });

  test("a group never loses its last target this way: removals that would empty it are not applied", () => {
    const laid = overlay(file({ app: [A] }), snapshot({ app: { removed: { [A]: { at: NOW - 1 } } } }), NOW);
    expect(urls(laid.config)).toEqual([A]);
  });

  test("records of groups the file does not have are ignored; groups named like Object.prototype members are read safely", () => {
    const f = file({ hasOwnProperty: [A], toString: [B] });
    const laid = overlay(
      f,
      snapshot({ gone: { added: { [X]: { weight: 1, backup: false } } }, toString: { added: { [X]: { weight: 2, backup: false } } } }),
      NOW,
    );
    expect(Object.keys(laid.config.targetGroups).sort()).toEqual(["hasOwnProperty", "toString"]);
    expect(urls(laid.config, "hasOwnProperty")).toEqual([A]);
    expect(urls(laid.config, "toString")).toEqual([B, X]);
  });

  test("equal overlays have equal keys; a changed added target changes the key (the balancer rebuilds on a new key only)", () => {
    const add = (weight: number) => snapshot({ app: { added: { [X]: { weight, backup: false } } } });
    expect(overlay(file(), add(1), NOW).key).toBe(overlay(file(), add(1), NOW + 5).key);
    expect(overlay(file(), add(1), NOW).key).not.toBe(overlay(file(), add(2), NOW).key);
  });
});

describe("the served config follows targets added and removed through the API, on every instance", () => {
  afterEach(() => setSystemTime());

  function world(deregistrationDelay: number) {
    const store = new MemoryStateStore();
    const hits: string[] = [];
    const config = validateConfig({
      listen: { port: 0 },
      targetGroups: { app: { targets: [{ url: A }, { url: B }], deregistrationDelay } },
      defaultAction: { forward: "app" },
    });
    const make = (): BalancerApp =>
      createBalancer(config, {
        ...quietPlatform,
        upstream: async (req: UpstreamRequest) => {
          hits.push(req.origin);
          return new Response("ok");
        },
        state: store,
      });
    const apps = [make(), make()] as const;
    const send = async (app: BalancerApp, n: number) => {
      hits.length = 0;
      for (let i = 0; i < n; i++) await (await app.fetch(new Request("http://lb.test/"))).arrayBuffer();
      return new Set(hits);
    };
    return { apps, store, send, file: config };
  }

  test("a target added on one instance is served, and takes traffic, on both; the file's config is unchanged", async () => {
    const w = world(30);
    await Promise.all(w.apps.map((a) => a.balancer.ready()));
    await w.apps[0].balancer.control.addTarget("app", { url: X, name: "canary", weight: 1, backup: false }, "test");
    for (const app of w.apps) {
      await app.balancer.settled();
      expect(urls(app.balancer.config)).toEqual([A, B, X]);
      expect(app.balancer.group("app").targets.map((t) => t.url)).toEqual([A, B, X]);
      expect((await w.send(app, 9)).has("http://10.0.0.9")).toBe(true);
      expect(urls(app.balancer.fileConfig)).toEqual([A, B]);
    }
  });

  test("a removed target disappears once its deregistration delay has passed, on both", async () => {
    const w = world(30);
    await Promise.all(w.apps.map((a) => a.balancer.ready()));
    setSystemTime(new Date(NOW));
    await w.apps[0].balancer.control.removeTarget("app", B, "test");
    for (const app of w.apps) {
      await app.balancer.settled();
      // Draining until then: listed, but no new requests.
      expect(urls(app.balancer.config)).toEqual([A, B]);
      expect(await w.send(app, 6)).toEqual(new Set(["http://10.0.0.1"]));
    }
    setSystemTime(new Date(NOW + 30_000));
    for (const app of w.apps) {
      // What a Worker calls on each request (servers have a timer for it).
      await app.balancer.due();
      expect(urls(app.balancer.config)).toEqual([A]);
      expect(app.balancer.group("app").targets.map((t) => t.url)).toEqual([A]);
    }
  });

  test("a target added again after its removal is in service at once, not drained by what was left of the removal", async () => {
    const w = world(30);
    await Promise.all(w.apps.map((a) => a.balancer.ready()));
    setSystemTime(new Date(NOW));
    await w.apps[0].balancer.control.patchTarget("app", B, { weight: 5 }, "test");
    await w.apps[0].balancer.control.removeTarget("app", B, "test");
    setSystemTime(new Date(NOW + 30_000));
    for (const app of w.apps) await app.balancer.due();
    await w.apps[0].balancer.control.addTarget("app", { url: B, name: "b", weight: 1, backup: false }, "test");
    for (const app of w.apps) {
      await app.balancer.settled();
      const b = app.balancer.status().groups[0]!.targets.find((t) => t.url === B)!;
      expect([b.state, b.draining, b.weight]).toEqual(["healthy", false, 1]);
      expect((await w.send(app, 6)).has(B)).toBe(true);
    }
  });

  test("an added target removed again leaves the config, then the store: nothing is left of it", async () => {
    const w = world(30);
    await Promise.all(w.apps.map((a) => a.balancer.ready()));
    setSystemTime(new Date(NOW));
    const control = w.apps[0].balancer.control;
    await control.addTarget("app", { url: X, weight: 1, backup: false }, "test");
    await w.apps[1].balancer.settled();
    expect(urls(w.apps[1].balancer.config)).toEqual([A, B, X]);
    await control.removeTarget("app", X, "test");
    setSystemTime(new Date(NOW + 30_000));
    for (const app of w.apps) {
      await app.balancer.due();
      expect(urls(app.balancer.config)).toEqual([A, B]);
    }
    // The next write forgets a removal that has come due, with the weight and drain that went with it.
    await control.patchTarget("app", A, { weight: 2 }, "test");
    const rec = (await w.store.load()).groups.app!;
    expect([rec.added, rec.removed, rec.drains, rec.weights]).toEqual([{}, {}, {}, { [A]: 2 }]);
  });

  test.each([["a target of the file", B], ["a target added through the API", X]])(
    "removing %s with deregistrationDelay 0 succeeds and says so (not a 409 for the change it just made)",
    async (_, url) => {
      const w = world(0);
      const control = w.apps[0].balancer.control;
      await w.apps[0].balancer.ready();
      if (url === X) await control.addTarget("app", { url: X, weight: 1, backup: false }, "test");
      // The schema allows 0 (seconds(0, 3600)): leave at once, as ALB's deregistration delay 0 does.
      const answer = await control.removeTarget("app", url, "test").catch((error: Error) => error);
      expect(answer instanceof Error ? `${answer.name}: ${answer.message}` : "answered").toBe("answered");
      expect(urls(w.apps[0].balancer.config)).toEqual([A, ...(url === B ? [] : [B])]);
    },
  );
});
