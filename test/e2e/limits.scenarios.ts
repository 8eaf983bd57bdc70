/**
 * Load shedding through the real balancer on every runtime: `maxConnections`
 * per target with the group's bounded queue (nginx max_conns + nginx Plus
 * queue), and the 503s and metrics when the queue is full or the wait ends.
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

    beforeAll(async () => {
      ups = await Promise.all(["q1", "q2", "t1"].map((n) => startUpstream(n, { delayMs: 400 })));
      const [q1, q2, t1] = ups as [Upstream, Upstream, Upstream];
      [queued, impatient] = await Promise.all([
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
      ]);
    }, 60_000);

    afterAll(async () => {
      await Promise.all([queued, impatient].map((b) => b?.stop()));
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
  });
}
