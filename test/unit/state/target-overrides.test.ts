/**
 * Runtime weight and drain overrides written by one balancer and applied by
 * every balancer sharing the store (two balancers, one memory store; the
 * shared stores run the same path through their subscriptions and polls).
 */
import { describe, expect, test } from "bun:test";
import { type BalancerApp, createBalancer } from "../../../src/app/balancer.ts";
import { validateConfig } from "../../../src/config/load.ts";
import { type Platform, type UpstreamRequest } from "../../../src/platform.ts";
import { quietPlatform } from "../quiet-platform.ts";
import { MemoryStateStore } from "../../../src/state/memory.ts";

const A = "http://10.0.0.1";
const B = "http://10.0.0.2";
const C = "http://10.0.0.3";

function world(strategy = "round_robin") {
  const store = new MemoryStateStore();
  const hits: string[] = [];
  const clock = 1_000;
  const upstream = async (req: UpstreamRequest): Promise<Response> => {
    hits.push(req.origin);
    return new Response("ok");
  };
  const config = validateConfig({
    listen: { port: 0 },
    targetGroups: { app: { strategy, targets: [{ url: A }, { url: B }, { url: C }], deregistrationDelay: 30 } },
    defaultAction: { forward: "app" },
  });
  const make = (): BalancerApp => {
    const platform: Platform = { ...quietPlatform, upstream, now: () => clock, state: store };
    return createBalancer(config, platform);
  };
  const apps = [make(), make()] as const;
  /** Origins hit by `n` requests through `app`. */
  const send = async (app: BalancerApp, n: number) => {
    hits.length = 0;
    for (let i = 0; i < n; i++) await (await app.fetch(new Request("http://lb.test/"))).arrayBuffer();
    return new Set(hits);
  };
  return { apps, send, hits };
}

describe("runtime target overrides through the state store", () => {
  test("a weight set on one instance applies on both; clearing it restores the config's", async () => {
    const w = world();
    await Promise.all(w.apps.map((a) => a.balancer.ready()));
    await w.apps[0].balancer.control.setTargetWeight("app", B, 0);
    for (const app of w.apps) expect([...(await w.send(app, 12))].sort()).toEqual(["http://10.0.0.1", "http://10.0.0.3"]);
    expect(w.apps[1].balancer.group("app").targets[1]!.weight).toBe(0);
    await w.apps[1].balancer.control.setTargetWeight("app", B, undefined);
    for (const app of w.apps) expect((await w.send(app, 12)).has("http://10.0.0.2")).toBe(true);
  });

  test("weights rebuild the strategy: nginx smooth WRR gives exactly 3:1:1 on the other instance", async () => {
    const w = world("weighted_round_robin");
    await Promise.all(w.apps.map((a) => a.balancer.ready()));
    await w.apps[0].balancer.control.setTargetWeight("app", A, 3);
    await w.send(w.apps[1], 400);
    const count = (origin: string) => w.hits.filter((h) => h === origin).length;
    expect([count("http://10.0.0.1"), count("http://10.0.0.2"), count("http://10.0.0.3")]).toEqual([240, 80, 80]);
  });

  test("a drain started on one instance stops new traffic on both; stopping it brings the target back", async () => {
    const w = world();
    await Promise.all(w.apps.map((a) => a.balancer.ready()));
    await w.apps[1].balancer.control.setTargetDrain("app", C, true);
    for (const app of w.apps) {
      expect((await w.send(app, 12)).has("http://10.0.0.3")).toBe(false);
      const g = app.balancer.group("app");
      expect(g.health.status(2, 1_000).state).toBe("draining");
      expect(g.health.drainDeadline(2)).toBeGreaterThan(1_000 + 29_000);
    }
    await w.apps[0].balancer.control.setTargetDrain("app", C, false);
    for (const app of w.apps) expect((await w.send(app, 12)).has("http://10.0.0.3")).toBe(true);
  });

  test("unknown groups, targets and bad weights are refused with what was expected", async () => {
    const w = world();
    const b = w.apps[0].balancer.control;
    await expect(b.setTargetDrain("nope", A, true)).rejects.toThrow(/no target group "nope"; groups: app/);
    await expect(b.setTargetWeight("app", "http://10.9.9.9:80", 1)).rejects.toThrow(/no target "http:\/\/10.9.9.9:80" in group app; its targets: /);
    await expect(b.setTargetWeight("app", A, 1.5)).rejects.toThrow(/expected an integer from 0 to 1000/);
  });
});

describe("groups named like Object.prototype members", () => {
  test("an override on one group leaves a group called toString serving (it used to throw on every snapshot)", async () => {
    const store = new MemoryStateStore();
    const hits: string[] = [];
    const upstream = async (req: UpstreamRequest): Promise<Response> => {
      hits.push(req.origin);
      return new Response("ok");
    };
    const config = validateConfig({
      listen: { port: 0 },
      targetGroups: { toString: { targets: [{ url: A }] }, hasOwnProperty: { targets: [{ url: B }, { url: C }] } },
      defaultAction: { forward: "toString" },
    });
    const errors: string[] = [];
    const platform: Platform = { ...quietPlatform, upstream, log: (line) => errors.push(line), state: store };
    const app = createBalancer(config, platform);
    await app.balancer.ready();
    await app.balancer.control.setTargetWeight("hasOwnProperty", C, 0);
    await app.balancer.control.setTargetDrain("toString", A, false);
    const r = await app.fetch(new Request("http://lb.test/"));
    expect(r.status).toBe(200);
    expect(hits).toEqual(["http://10.0.0.1"]);
    expect(errors.filter((e) => /error|TypeError/.test(e))).toEqual([]);
  });
});
