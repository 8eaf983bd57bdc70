/**
 * Two balancer instances sharing one state store (issue #6), the same list
 * for every store: Redis (Bun + Node instances), Deno KV (two Deno
 * processes on one KV file) and Cloudflare (two Workers on one Durable
 * Object). Real upstreams on loopback, real stores, no mocks.
 *
 * - Probing is deduplicated: one probe per target per interval in total.
 * - A target whose /health fails is taken out by BOTH instances within
 *   interval x unhealthyThreshold + one cacheTtl, though only one of them
 *   probes (the other can only have learnt it from the store); restored the
 *   same way.
 * - A target that is killed outright is out on both.
 * - With the store stopped, both keep serving and say so once in their logs.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startUpstream, type Upstream } from "./upstream.ts";
import { fulcrumCommand } from "./launch.ts";

export const INTERVAL = 1;
export const UNHEALTHY = 2;
export const HEALTHY = 2;
export const CACHE_TTL = 1;
const TOKEN = "shared-state-e2e";

/** One running balancer instance, whatever starts it. */
export interface Instance {
  readonly url: string;
  output(): string;
  /** Headers every request needs (CF-Connecting-IP on workerd). */
  readonly headers?: Record<string, string>;
}

export interface SharedSetup {
  /** Two instances on `config`, to which the setup adds its `state` block. */
  readonly instances: readonly [Instance, Instance];
  /** Make the store unreachable (stop the server, lock the file, ...). */
  stopStore(): Promise<void>;
  /** Bring it back, when the store can be. */
  startStore?(): Promise<void>;
  close(): Promise<void>;
}

export function sharedStateScenarios(label: string, setup: (config: Record<string, unknown>) => Promise<SharedSetup>): void {
  describe(`shared state: ${label}`, () => {
    let ups: Upstream[] = [];
    let s: SharedSetup;

    beforeAll(async () => {
      ups = await Promise.all(["a", "b", "c"].map((n) => startUpstream(n)));
      s = await setup({
        listen: { port: 0 },
        targetGroups: {
          app: {
            targets: ups.map((u) => ({ url: u.url })),
            healthCheck: { path: "/health", interval: INTERVAL, timeout: 0.5, unhealthyThreshold: UNHEALTHY, healthyThreshold: HEALTHY, jitter: 0 },
          },
          next: { targets: [{ url: ups[0]!.url }] },
        },
        defaultAction: { forward: "app" },
        rules: [{
          priority: 5,
          conditions: [{ pathPattern: { values: ["/limited/*"] } }],
          action: { fixedResponse: { statusCode: 200, messageBody: "ok" } },
          rateLimit: { requests: 10, per: 600, key: { source: "header", name: "x-client" }, shared: true, syncInterval: 0.2 },
        }, {
          priority: 6,
          conditions: [{ pathPattern: { values: ["/canary/*"] } }],
          action: {
            forward: {
              targetGroups: [{ group: "app", weight: 1 }, { group: "next", weight: 0 }],
              canary: { group: "next", steps: [100], interval: 1, minRequests: 30, maxErrorRate: 50 },
            },
          },
        }],
        admin: { stats: { path: "/__stats", auth: { bearer: { token: TOKEN } } }, api: { path: "/__fulcrum/api", auth: { bearer: { token: TOKEN } } } },
      });
    }, 120_000);

    afterAll(async () => {
      await s?.close();
      await Promise.all(ups.map((u) => u.close()));
    }, 30_000);

    const served = async (i: Instance): Promise<string> => {
      const r = await fetch(`${i.url}/w`, { headers: i.headers ?? {} });
      await r.arrayBuffer();
      return r.headers.get("x-served-by") ?? `status ${r.status}`;
    };

    /** The instance's own view of a target (its status JSON). */
    const stateOf = async (i: Instance, url: string): Promise<string> => {
      const r = await fetch(`${i.url}/__stats/status.json`, { headers: { ...i.headers, authorization: `Bearer ${TOKEN}` } });
      const body = JSON.stringify(await r.json());
      const m = new RegExp(`"url":"${url.replace(/[.]/g, "\\.")}","state":"([a-z_]+)"`).exec(body);
      if (!m) throw new Error(`no state for ${url} in ${body.slice(0, 400)}`);
      return m[1]!;
    };

    /** Milliseconds until `cond` holds (polled every 50 ms, bounded). */
    async function timeUntil(cond: () => Promise<boolean>, limitMs: number): Promise<number> {
      const start = Date.now();
      while (Date.now() - start < limitMs) {
        if (await cond()) return Date.now() - start;
        await Bun.sleep(50);
      }
      return Infinity;
    }

    test("both instances reach every target", async () => {
      for (const i of s.instances) {
        const seen = new Set<string>();
        for (let k = 0; k < 12; k++) seen.add(await served(i));
        expect([...seen].sort()).toEqual(["a", "b", "c"]);
      }
    }, 20_000);

    test("one probe per target per interval across both instances, not two", async () => {
      const a = ups[0]!;
      // Traffic first: a Worker starts its store's alarm on its first request.
      for (const i of s.instances) await served(i);
      // Let the lease settle, then count over a fixed window.
      await Bun.sleep(1200);
      const before = a.probes;
      await Bun.sleep(4200);
      const probes = a.probes - before;
      // 4.2 s at a 1 s interval: 4 or 5 rounds by one prober; two probers would send 8-10.
      expect(probes).toBeGreaterThanOrEqual(3);
      expect(probes).toBeLessThanOrEqual(5);
    }, 15_000);

    test("a failing /health takes the target out on both instances within interval x unhealthyThreshold + one TTL, and back", async () => {
      const c = ups[2]!;
      c.healthy = false;
      const budget = (INTERVAL * UNHEALTHY + INTERVAL + CACHE_TTL) * 1000 + 500;
      const out = await Promise.all(s.instances.map((i) => timeUntil(async () => (await stateOf(i, c.url)) === "unhealthy", 10_000)));
      for (const ms of out) expect(ms).toBeLessThanOrEqual(budget);
      // Out means no traffic: 15 requests per instance, none served by c.
      for (const i of s.instances) for (let k = 0; k < 15; k++) expect(await served(i)).not.toBe("c");
      c.healthy = true;
      const back = await Promise.all(s.instances.map((i) => timeUntil(async () => (await stateOf(i, c.url)) !== "unhealthy", 10_000)));
      for (const ms of back) expect(ms).toBeLessThanOrEqual((INTERVAL * HEALTHY + INTERVAL + CACHE_TTL) * 1000 + 500);
      const seen = new Set<string>();
      for (let k = 0; k < 12; k++) seen.add(await served(s.instances[1]));
      expect(seen.has("c")).toBe(true);
    }, 30_000);

    test("a killed target is out on both instances; restarted on its port, it is back on both", async () => {
      const b = ups[1]!;
      const port = b.port;
      await b.close();
      const budget = (INTERVAL * UNHEALTHY + INTERVAL + CACHE_TTL) * 1000 + 500;
      const out = await Promise.all(s.instances.map((i) => timeUntil(async () => (await stateOf(i, b.url)) === "unhealthy", 10_000)));
      for (const ms of out) expect(ms).toBeLessThanOrEqual(budget);
      for (const i of s.instances) for (let k = 0; k < 10; k++) expect(await served(i)).not.toMatch(/^status 5/);
      ups[1] = await startUpstream("b", { port });
      const back = await Promise.all(s.instances.map((i) => timeUntil(async () => (await stateOf(i, b.url)) !== "unhealthy", 10_000)));
      for (const ms of back) expect(ms).toBeLessThanOrEqual((INTERVAL * HEALTHY + INTERVAL + CACHE_TTL) * 1000 + 500);
    }, 30_000);

    test("a drain sent to one instance's admin API applies on the other within one cacheTtl; ready on the other returns it on both", async () => {
      const [one, two] = s.instances;
      const c = ups[2]!;
      const cli = (i: Instance, ...args: string[]) => fulcrumCommand(args, { admin: `${i.url}/__fulcrum/api`, token: TOKEN });
      const drained = await cli(one, "drain", "app", c.url);
      expect([drained.code, drained.err]).toEqual([0, ""]);
      const seen = await timeUntil(async () => (await stateOf(two, c.url)) === "draining", 10_000);
      expect(seen).toBeLessThanOrEqual(CACHE_TTL * 1000 + 1500);
      for (let k = 0; k < 15; k++) expect(await served(two)).not.toBe("c");
      expect((await cli(two, "ready", "app", c.url)).code).toBe(0);
      const back = await timeUntil(async () => (await stateOf(one, c.url)) !== "draining", 10_000);
      expect(back).toBeLessThanOrEqual(CACHE_TTL * 1000 + 1500);
      // Both instances show the change log the store keeps.
      const events = JSON.parse((await cli(two, "events", "--json")).out) as { kind: string }[];
      expect(events.filter((e) => e.kind === "drain" || e.kind === "ready").length).toBe(2);
    }, 30_000);

    test("a shared rate limit holds across both instances: what one allowed, the other does not allow again", async () => {
      const [one, two] = s.instances;
      const call = async (i: Instance) => {
        const r = await fetch(`${i.url}/limited/x`, { headers: { ...i.headers, "x-client": "c1" } });
        await r.arrayBuffer();
        return r.status;
      };
      for (let k = 0; k < 6; k++) expect(await call(one)).toBe(200);
      // A few exchanges (every 0.2 s, each instance's own clock). A Worker idle since learns the others'
      // counts only on a request (after deciding it: the README says so), so another client's comes first.
      await Bun.sleep(1500);
      await (await fetch(`${two.url}/limited/x`, { headers: { ...two.headers, "x-client": "someone else" } })).arrayBuffer();
      await Bun.sleep(600);
      const second: number[] = [];
      for (let k = 0; k < 10; k++) second.push(await call(two));
      // 4 left of 10 (alone, the second instance would allow all 10).
      expect(second.filter((x) => x === 200).length).toBe(4);
      await Bun.sleep(1500);
      // The first instance learnt the second's 4. (A Worker idle since learns it on its next request, after deciding that
      // one: no store call on the request path. So one more may pass there.)
      const third: number[] = [];
      for (let k = 0; k < 3; k++) {
        third.push(await call(one));
        await Bun.sleep(300);
      }
      expect(third.slice(1)).toEqual([429, 429]);
    }, 30_000);

    test("a canary is decided on both instances' requests together, and both apply the decision", async () => {
      const [one, two] = s.instances;
      const canaries = async (i: Instance) =>
        ((await (await fetch(`${i.url}/__fulcrum/api/v1/canaries`, { headers: { ...i.headers, authorization: `Bearer ${TOKEN}` } })).json()) as {
          canaries: { state: string; weight: number; reason?: string }[];
        }).canaries[0]!;
      const call = async (i: Instance) => (await (await fetch(`${i.url}/canary/x`, { headers: i.headers ?? {} })).arrayBuffer(), undefined);
      // Started by the instance holding its lease; both measure once they have its record.
      // (Status calls are requests too: a Worker runs its periodic work on them.)
      await Promise.all([call(one), call(two)]);
      const both = async (state: string) => (await Promise.all([canaries(one), canaries(two)])).every((c) => c.state === state);
      const started = await timeUntil(() => both("progressing"), 10_000);
      expect(started).toBeLessThan(10_000);
      await Bun.sleep(1200);
      // 20 canary requests on each: neither reaches minRequests (30) alone.
      for (let k = 0; k < 20; k++) await Promise.all([call(one), call(two)]);
      const promoted = await timeUntil(() => both("promoted"), 10_000);
      expect(promoted).toBeLessThan(10_000);
      const reason = (await canaries(two)).reason ?? "";
      expect(Number(/canary (\d+) requests/.exec(reason)?.[1])).toBeGreaterThanOrEqual(30);
    }, 30_000);

    test("with the store stopped, both instances keep serving on their last state and log it once", async () => {
      await s.stopStore();
      // Each instance notices at its next failing call: its poll, or (a store that still reads, a
      // locked KV file) its next lease attempt, at the latest when the holder's lease runs out.
      const noticed = await Promise.all(s.instances.map((i) => timeUntil(async () => (await served(i), /state: .* unreachable/.test(i.output())), 10_000)));
      for (const ms of noticed) expect(ms).toBeLessThan(10_000);
      await Bun.sleep((INTERVAL + CACHE_TTL) * 1000); // long enough to see it flap, if it did
      for (const i of s.instances) {
        const seen = new Set<string>();
        for (let k = 0; k < 15; k++) seen.add(await served(i));
        expect([...seen].sort()).toEqual(["a", "b", "c"]);
      }
      for (const i of s.instances) expect(i.output().match(/state: .* unreachable/g)?.length ?? 0).toBe(1);
      if (!s.startStore) return;
      await s.startStore();
      // With traffic: a Worker only notices the store is back at its next request.
      const back = await Promise.all(s.instances.map((i) => timeUntil(async () => (await served(i), /reachable again/.test(i.output())), 10_000)));
      for (const ms of back) expect(ms).toBeLessThan(10_000);
    }, 30_000);
  });
}
