/**
 * Load shedding through the real balancer on every runtime: `maxConnections`
 * per target with the group's bounded queue (nginx max_conns + nginx Plus
 * queue), and the 503s and metrics when the queue is full or the wait ends;
 * rate limits per client address and per header, with 429, Retry-After and
 * the IETF RateLimit fields (shared limits: shared-state.scenarios.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Balancer, type Runtime, startBalancer } from "./launch.ts";
import { startUpstream, type Upstream } from "./upstream.ts";

const metric = (text: string, name: string, labels: string): number => {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && labels.split(",").every((p) => l.includes(p)));
  return line === undefined ? Number.NaN : Number(line.slice(line.lastIndexOf(" ") + 1));
};

export function limitScenarios(runtime: Runtime): void {
  describe(`limits on ${runtime}`, () => {
    const cf: Record<string, string> = runtime === "workerd" ? { "cf-connecting-ip": "127.0.0.1" } : {};
    let ups: Upstream[] = [];
    let queued: Balancer;
    let impatient: Balancer;
    let limited: Balancer;

    beforeAll(async () => {
      ups = await Promise.all(["q1", "q2", "t1"].map((n) => startUpstream(n, { delayMs: 400 })));
      ups.push(await startUpstream("rl"));
      const [q1, q2, t1, rl] = ups as [Upstream, Upstream, Upstream, Upstream];
      [queued, impatient, limited] = await Promise.all([
        startBalancer(runtime, {
          listen: { port: 0 },
          targetGroups: {
            app: {
              strategy: "least_connections",
              targets: [{ url: q1.url }, { url: q2.url, maxConnections: 2 }],
              maxConnections: 1,
              queue: { size: 2, timeout: 10 },
            },
          },
          defaultAction: { forward: "app" },
          admin: { metrics: { path: "/__fulcrum/metrics" } },
        }),
        startBalancer(runtime, {
          listen: { port: 0 },
          targetGroups: { app: { targets: [{ url: t1.url }], maxConnections: 1, queue: { size: 5, timeout: 0.1 } } },
          defaultAction: { forward: "app" },
          admin: { metrics: { path: "/__fulcrum/metrics" } },
        }),
        startBalancer(runtime, {
          listen: { port: 0 },
          targetGroups: { app: { targets: [{ url: rl.url }] } },
          rateLimit: { requests: 3, per: 60 },
          rules: [{
            priority: 10,
            conditions: [{ pathPattern: { values: ["/api/*"] } }],
            action: { forward: "app" },
            rateLimit: { requests: 2, per: 60, key: { source: "header", name: "x-api-key" } },
          }],
          defaultAction: { forward: "app" },
          admin: { metrics: { path: "/__fulcrum/metrics" } },
        }),
      ]);
    }, 60_000);

    afterAll(async () => {
      await Promise.all([queued, impatient, limited].map((b) => b?.stop()));
      await Promise.all(ups.map((u) => u.close()));
    }, 30_000);

    test("maxConnections: no target gets more than its limit; the next requests wait their turn in the queue, and past its size get 503 at once", async () => {
      const [q1, q2] = ups as [Upstream, Upstream];
      const h1 = q1.hits, h2 = q2.hits;
      const started = Date.now();
      // Slots: q1 1, q2 2 (its own limit wins); queue 2: 5 served, the 6th refused.
      const answers = await Promise.all(
        Array.from({ length: 6 }, async (_, i) => {
          await Bun.sleep(i * 20);
          const r = await fetch(`${queued.url}/x${i}`, { headers: cf });
          await r.arrayBuffer();
          return { status: r.status, by: r.headers.get("x-served-by"), at: Date.now() - started, retryAfter: r.headers.get("retry-after") };
        }),
      );
      const refused = answers.filter((a) => a.status === 503);
      expect(refused.length).toBe(1);
      expect(refused[0]!.retryAfter).not.toBeNull();
      // Refused at once, not after a wait.
      expect(refused[0]!.at).toBeLessThan(350);
      const served = answers.filter((a) => a.status === 200);
      expect(served.length).toBe(5);
      // Three at once took the slots; the two queued ones were answered one response time later.
      expect(served.filter((a) => a.at >= 700).length).toBe(2);
      expect(q1.hits - h1).toBe(2);
      expect(q2.hits - h2).toBe(3);
      const m = await (await fetch(`${queued.url}/__fulcrum/metrics`, { headers: cf })).text();
      expect(metric(m, "fulcrum_group_queue_rejected_total", 'reason="full"')).toBe(1);
      expect(metric(m, "fulcrum_group_queued_requests", 'group="app"')).toBe(0);
    }, 20_000);

    test("maxConnections: a request that waits past queue.timeout gets 503 with Retry-After", async () => {
      const started = Date.now();
      const [first, second] = await Promise.all([
        fetch(`${impatient.url}/a`, { headers: cf }),
        Bun.sleep(50).then(() => fetch(`${impatient.url}/b`, { headers: cf })),
      ]);
      await Promise.all([first.arrayBuffer(), second.arrayBuffer()]);
      expect(first.status).toBe(200);
      expect(second.status).toBe(503);
      expect(second.headers.get("retry-after")).not.toBeNull();
      const m = await (await fetch(`${impatient.url}/__fulcrum/metrics`, { headers: cf })).text();
      expect(metric(m, "fulcrum_group_queue_rejected_total", 'reason="timeout"')).toBe(1);
      expect(Date.now() - started).toBeLessThan(3000);
    }, 20_000);

    test("rateLimit: a client over its bucket gets 429 with Retry-After; every answer carries RateLimit-Policy and RateLimit", async () => {
      const rl = ups[3]!;
      const hits = rl.hits;
      const answers = [];
      for (let i = 0; i < 4; i++) {
        const r = await fetch(`${limited.url}/page`, { headers: cf });
        await r.arrayBuffer();
        answers.push({
          status: r.status,
          policy: r.headers.get("ratelimit-policy"),
          limit: r.headers.get("ratelimit"),
          retryAfter: r.headers.get("retry-after"),
        });
      }
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 429]);
      expect(answers[0]!.policy).toBe('"default";q=3;w=60');
      expect(answers.map((a) => /;r=(\d+);/.exec(a.limit ?? "")?.[1])).toEqual(["2", "1", "0", "0"]);
      // One token comes back every 20 s.
      expect(Number(answers[3]!.retryAfter)).toBeGreaterThanOrEqual(19);
      expect(Number(answers[3]!.retryAfter)).toBeLessThanOrEqual(20);
      // The refused request never reached the target.
      expect(rl.hits - hits).toBe(3);
      const m = await (await fetch(`${limited.url}/__fulcrum/metrics`, { headers: cf })).text();
      expect(metric(m, "fulcrum_rule_rate_limited_total", 'rule="default"')).toBe(1);
      expect(metric(m, "fulcrum_rule_requests_total", 'rule="default",class="4xx"')).toBe(1);
    });

    test("rateLimit: a rule's own limit counts by its key (an API key header), each key its own bucket", async () => {
      const call = async (key: string) => (await fetch(`${limited.url}/api/x`, { headers: { ...cf, "x-api-key": key } })).status;
      expect([await call("k1"), await call("k1"), await call("k1")]).toEqual([200, 200, 429]);
      expect([await call("k2"), await call("k2")]).toEqual([200, 200]);
      const r = await fetch(`${limited.url}/api/x`, { headers: { ...cf, "x-api-key": "k1" } });
      expect(r.headers.get("ratelimit-policy")).toBe('"rule-10";q=2;w=60');
    });
  });
}
