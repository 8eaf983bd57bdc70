/**
 * Health shared through a state store (src/health/sync.ts, checks.ts): two
 * balancers over one store, rounds driven by hand (`runAll`, `runDue`), the
 * store's own memory implementation underneath. The real stores (Redis,
 * Deno KV, Durable Objects) run the same flow in e2e.
 */
import { describe, expect, test } from "bun:test";
import { type BalancerApp, createBalancer } from "../../../src/app/balancer.ts";
import { validateConfig } from "../../../src/config/load.ts";
import { type Platform, UpstreamError, type UpstreamRequest } from "../../../src/platform.ts";
import { quietPlatform } from "../quiet-platform.ts";
import { MemoryStateStore } from "../../../src/state/memory.ts";
import type { StateStore } from "../../../src/state/store.ts";

const A = "http://10.0.0.1";
const B = "http://10.0.0.2";

/** A store that can be switched off: every call rejects while `down`. */
function switchable(inner: StateStore) {
  const state = { down: false };
  const guard = <T>(f: () => Promise<T>) => (state.down ? Promise.reject(new Error("connection refused")) : f());
  const store: StateStore = {
    load: () => guard(() => inner.load()),
    compareAndSet: (v, next) => guard(() => inner.compareAndSet(v, next)),
    update: (m) => guard(() => inner.update(m)),
    subscribe: (cb) => inner.subscribe((s) => !state.down && cb(s)),
    tryAcquireLease: (n, h, t) => guard(() => inner.tryAcquireLease(n, h, t)),
    releaseLease: (n, h) => guard(() => inner.releaseLease(n, h)),
    appendEvent: (e) => guard(() => inner.appendEvent(e)),
    recentEvents: (n) => guard(() => inner.recentEvents(n)),
    report: (t, i, v, ttl) => guard(() => inner.report(t, i, v, ttl)),
    reports: (t) => guard(() => inner.reports(t)),
    close: () => inner.close(),
  };
  return { store, state };
}

function world() {
  let clock = 1_000_000;
  const wall = { now: 1_700_000_000_000 };
  const memory = new MemoryStateStore({ now: () => wall.now });
  const { store, state } = switchable(memory);
  const alive = new Map([[A, true], [B, true]]);
  const probes: string[] = [];
  const logs: string[] = [];
  const upstream = async (req: UpstreamRequest): Promise<Response> => {
    if (req.path === "/health") probes.push(req.origin);
    if (!alive.get(req.origin + ":80") && !alive.get(req.origin)) throw new UpstreamError("connect", "refused");
    return new Response("ok");
  };
  const config = validateConfig({
    listen: { port: 0 },
    targetGroups: {
      app: {
        targets: [{ url: A }, { url: B }],
        healthCheck: { path: "/health", interval: 5, timeout: 2, unhealthyThreshold: 2, healthyThreshold: 2 },
        passive: { maxFails: 1, failTimeout: 30 },
      },
    },
    defaultAction: { forward: "app" },
    state: { store: "redis", cacheTtl: 1 },
  });
  const make = (name: string): BalancerApp => {
    const platform: Platform = { ...quietPlatform, upstream, now: () => clock, log: (line) => logs.push(`${name}: ${line}`), state: store };
    return createBalancer(config, platform);
  };
  const one = make("one");
  const two = make("two");
  const advance = (ms: number) => {
    clock += ms;
    wall.now += ms;
  };
  const stateOf = (app: BalancerApp, url: string) => {
    const g = app.balancer.group("app");
    return g.health.status(g.targets.findIndex((t) => t.url === url), clock).state;
  };
  return { one, two, alive, probes, logs, state, advance, stateOf, memory };
}

describe("health shared through a state store", () => {
  test("one probe per target per round across two instances; the other applies the verdict", async () => {
    const w = world();
    await Promise.all([w.one.balancer.ready(), w.two.balancer.ready()]);
    await w.one.balancer.healthChecks.runAll();
    await w.two.balancer.healthChecks.runAll();
    expect(w.probes.sort()).toEqual(["http://10.0.0.1", "http://10.0.0.2"]);
    const group = (app: BalancerApp) => app.balancer.group("app");
    expect(w.one.balancer.healthChecks.probing(group(w.one))).toBe(true);
    expect(w.two.balancer.healthChecks.probing(group(w.two))).toBe(false);
    // What /metrics and the stats page are told (fulcrum_group_probing).
    expect(w.one.balancer.healthProvider()[0]!.probing).toBe(true);
    expect(w.two.balancer.healthProvider()[0]!.probing).toBe(false);

    // A dies: two failed probes (unhealthyThreshold) at the prober; the other instance only reads.
    w.alive.set(A, false);
    for (let round = 0; round < 2; round++) {
      w.advance(5000);
      await w.one.balancer.healthChecks.runAll();
      await w.two.balancer.healthChecks.runAll();
    }
    expect(w.probes.length).toBe(6); // still one probe per target per round
    expect(w.stateOf(w.one, A)).toBe("unhealthy");
    expect(w.stateOf(w.two, A)).toBe("unhealthy"); // applied from the store, never probed by two
    expect(w.stateOf(w.two, B)).toBe("healthy");
    expect(w.logs.some((l) => l.startsWith("two: health:") && l.includes("shared probe verdict"))).toBe(true);

    // A returns: healthy again on both after healthyThreshold rounds.
    w.alive.set(A, true);
    for (let round = 0; round < 2; round++) {
      w.advance(5000);
      await w.one.balancer.healthChecks.runAll();
      await w.two.balancer.healthChecks.runAll();
    }
    expect(w.stateOf(w.one, A)).toBe("healthy");
    expect(w.stateOf(w.two, A)).toBe("healthy");
  });

  test("runDue (each request on Workers): a round when the interval or the store TTL has passed, nothing to wait on otherwise", async () => {
    const w = world();
    await w.one.balancer.ready();
    const checks = w.one.balancer.healthChecks;
    const first = checks.runDue();
    expect(first).toBeInstanceOf(Promise);
    await first;
    expect(w.probes.sort()).toEqual(["http://10.0.0.1", "http://10.0.0.2"]);
    // Within the TTL (1 s) and the interval (5 s): no work and no promise for waitUntil.
    w.advance(500);
    expect(checks.runDue()).toBeUndefined();
    // The store TTL has passed: a poll, no probes yet.
    w.advance(600);
    await checks.runDue();
    expect(w.probes.length).toBe(2);
    w.advance(4000);
    await checks.runDue();
    expect(w.probes.length).toBe(4);
  });

  test("the lease moves to another instance when its holder stops", async () => {
    const w = world();
    await w.one.balancer.healthChecks.runAll();
    await w.two.balancer.healthChecks.runAll();
    const g2 = w.two.balancer.group("app");
    expect(w.two.balancer.healthChecks.probing(g2)).toBe(false);
    w.one.balancer.healthChecks.stop(); // releases the lease
    await Bun.sleep(0);
    w.advance(5000);
    await w.two.balancer.healthChecks.runAll();
    expect(w.two.balancer.healthChecks.probing(g2)).toBe(true);
  });

  test("a passive failure seen by one instance keeps the target out on the other", async () => {
    const w = world();
    await Promise.all([w.one.balancer.ready(), w.two.balancer.ready()]);
    w.alive.set(B, false);
    // Instance two forwards a request that fails at B (maxFails 1): B is out there for failTimeout.
    for (let i = 0; i < 4; i++) await w.two.fetch(new Request("http://lb.test/x"));
    expect(w.stateOf(w.two, B)).toBe("unhealthy");
    await Bun.sleep(0); // the publish is fire-and-forget
    await w.one.balancer.snapshots.refresh();
    expect(w.stateOf(w.one, B)).toBe("unhealthy");
    const snap = await w.memory.load();
    expect(snap.groups.app!.targets[B]!.downUntil).toBeGreaterThan(Date.now() + 29_000);
    // After the shared hold ends, B is back on instance one.
    w.advance(31_000);
    expect(w.stateOf(w.one, B)).toBe("healthy");
  });

  test("fail static: with the store down both keep serving, probe locally, and log the outage once", async () => {
    const w = world();
    await Promise.all([w.one.balancer.ready(), w.two.balancer.ready()]);
    await w.one.balancer.healthChecks.runAll();
    await w.two.balancer.healthChecks.runAll();
    w.state.down = true;
    w.alive.set(A, false);
    const before = w.probes.length;
    for (let round = 0; round < 3; round++) {
      w.advance(5000);
      await w.one.balancer.healthChecks.runAll();
      await w.two.balancer.healthChecks.runAll();
    }
    expect(w.probes.length - before).toBe(12); // 2 instances x 2 targets x 3 rounds: each probes for itself
    expect(w.stateOf(w.one, A)).toBe("unhealthy");
    expect(w.stateOf(w.two, A)).toBe("unhealthy");
    for (const app of [w.one, w.two]) {
      const r = await app.fetch(new Request("http://lb.test/x"));
      expect(r.status).toBe(200);
    }
    const outage = (name: string) => w.logs.filter((l) => l.startsWith(`${name}: state:`) && l.includes("unreachable"));
    expect(outage("one").length).toBe(1);
    expect(outage("two").length).toBe(1);
    for (const app of [w.one, w.two]) {
      expect(app.balancer.healthChecks.storeReachable).toBe(false);
      expect(app.balancer.healthProvider()[0]!.probing).toBe(true); // each probes for itself meanwhile
    }

    w.state.down = false;
    w.advance(5000);
    await w.one.balancer.healthChecks.runAll();
    await w.two.balancer.healthChecks.runAll();
    expect(w.logs.filter((l) => l.includes("reachable again")).length).toBe(2);
  });
});
