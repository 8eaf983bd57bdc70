/**
 * Health on every runtime against real upstreams that turn unhealthy, die
 * and come back: active checks eject and restore within their thresholds,
 * retries hide a target killed under load, backups take over only when every
 * primary is down, draining targets get no new requests.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Balancer, fulcrumCommand, type Runtime, startBalancer } from "./launch.ts";
import { startUpstream, type Upstream } from "./upstream.ts";

const INTERVAL = 1;
const UNHEALTHY = 2;
const HEALTHY = 2;
const check = { path: "/health", interval: INTERVAL, timeout: 0.5, unhealthyThreshold: UNHEALTHY, healthyThreshold: HEALTHY, jitter: 0 };

export function healthScenarios(runtime: Runtime): void {
  describe(`health on ${runtime}`, () => {
    const cf: Record<string, string> = runtime === "workerd" ? { "cf-connecting-ip": "127.0.0.1" } : {};
    let ups: Upstream[] = [];
    let active: Balancer;
    let backup: Balancer;
    let drain: Balancer;
    let ramp: Balancer;
    let passive: Balancer;
    let noRetryPost: Balancer;
    let failover: Balancer;
    let budget: Balancer;

    beforeAll(async () => {
      ups = await Promise.all(
        ["a", "b", "c", "bk", "r1", "r2", "r3", "e1", "e2", "e3", "p1", "p2", "f1", "f2", "f3", "g1", "g2", "g3"].map((n) => startUpstream(n)),
      );
      const [a, b, c, bk, r1, r2, r3, e1, e2, e3, p1, p2, f1, f2, f3, g1, g2, g3] = ups as Upstream[] as [
        Upstream,
        Upstream,
        Upstream,
        Upstream,
        Upstream,
        Upstream,
        Upstream,
        Upstream,
        Upstream,
        Upstream,
        Upstream,
        Upstream,
        Upstream,
        Upstream,
        Upstream,
        Upstream,
        Upstream,
        Upstream,
      ];
      [active, backup, drain, ramp, passive, noRetryPost, failover, budget] = await Promise.all([
        startBalancer(runtime, {
          listen: { port: 0 },
          targetGroups: { app: { targets: [a, b, c].map((u) => ({ url: u.url })), healthCheck: check, passive: { maxFails: 1, failTimeout: 2 } } },
          defaultAction: { forward: "app" },
        }),
        startBalancer(runtime, {
          listen: { port: 0 },
          targetGroups: { app: { targets: [{ url: a.url }, { url: b.url }, { url: bk.url, backup: true }], healthCheck: check } },
          defaultAction: { forward: "app" },
        }),
        startBalancer(runtime, {
          listen: { port: 0 },
          targetGroups: { app: { targets: [{ url: a.url }, { url: b.url, drain: true }] } },
          defaultAction: { forward: "app" },
        }),
        startBalancer(runtime, {
          listen: { port: 0 },
          targetGroups: {
            app: {
              // The default strategy (round_robin): slow start works with it (it ignored slow start once).
              targets: [r1, r2, r3].map((u) => ({ url: u.url })),
              healthCheck: check,
              slowStart: 4,
              slowStartMinWeightPercent: 10,
            },
          },
          defaultAction: { forward: "app" },
        }),
        startBalancer(runtime, {
          listen: { port: 0 },
          // nginx passive checks with 503 counted as a failure (proxy_next_upstream http_503).
          targetGroups: {
            app: { targets: [e1, e2, e3].map((u) => ({ url: u.url })), passive: { maxFails: 1, failTimeout: 5, failOn: ["connect", "timeout", 503] } },
          },
          defaultAction: { forward: "app" },
        }),
        startBalancer(runtime, {
          listen: { port: 0 },
          targetGroups: { app: { targets: [p1, p2].map((u) => ({ url: u.url })), passive: { maxFails: 0 }, retries: { retryOn: [503] } } },
          defaultAction: { forward: "app" },
        }),
        startBalancer(runtime, {
          listen: { port: 0 },
          targetGroups: {
            main: {
              targets: [f1, f2].map((u) => ({ url: u.url })),
              passive: { maxFails: 1, failTimeout: 2, failOn: ["connect", "reset", "timeout", 502] },
              fallbackGroup: "spare",
              minHealthy: 2,
              failbackDelay: 1,
            },
            spare: { targets: [{ url: f3.url }] },
          },
          defaultAction: { forward: "main" },
          admin: { metrics: { path: "/__fulcrum/metrics" } },
        }),
        startBalancer(runtime, {
          listen: { port: 0 },
          targetGroups: {
            app: {
              targets: [g1, g2, g3].map((u) => ({ url: u.url })),
              passive: { maxFails: 0 },
              retries: { tries: 3, retryOn: [502], budgetPercent: 10, minRetryConcurrency: 1 },
            },
          },
          defaultAction: { forward: "app" },
          admin: { metrics: { path: "/__fulcrum/metrics" } },
        }),
      ]);
    }, 120_000);

    afterAll(async () => {
      await Promise.all([active, backup, drain, ramp, passive, noRetryPost, failover, budget].map((x) => x?.stop()));
      await Promise.all(ups.map((u) => u.close()));
    }, 30_000);

    const servedBy = async (b: Balancer): Promise<string> => {
      const r = await fetch(`${b.url}/w`, { headers: cf });
      await r.arrayBuffer();
      return r.headers.get("x-served-by") ?? `status ${r.status}`;
    };

    /** Milliseconds until `cond` holds over a window of 12 consecutive requests (polling, bounded). */
    async function timeUntil(b: Balancer, cond: (window: string[]) => boolean, limitMs: number): Promise<number> {
      const start = Date.now();
      const window: string[] = [];
      while (Date.now() - start < limitMs) {
        window.push(await servedBy(b));
        if (window.length > 12) window.shift();
        if (window.length === 12 && cond(window)) return Date.now() - start;
        await Bun.sleep(40);
      }
      return Infinity;
    }

    test("active checks: a target whose /health answers 503 is out within interval x unhealthyThreshold + one interval, back after it recovers", async () => {
      const c = ups[2]!;
      expect(await timeUntil(active, (w) => w.includes("c"), 5000)).toBeLessThan(5000);
      c.healthy = false;
      const out = await timeUntil(active, (w) => !w.includes("c"), 10_000);
      // The window of 12 requests adds up to ~0.5 s of polling after the target is already out.
      expect(out).toBeLessThanOrEqual((INTERVAL * UNHEALTHY + INTERVAL) * 1000 + 1000);
      c.healthy = true;
      const back = await timeUntil(active, (w) => w.includes("c"), 10_000);
      expect(back).toBeLessThanOrEqual((INTERVAL * HEALTHY + INTERVAL) * 1000 + 1000);
    }, 30_000);

    test("one probe per target per interval, never piled up", async () => {
      const c = ups[2]!; // probed by one balancer only
      const before = c.probes;
      await Bun.sleep(3200);
      const probes = c.probes - before;
      // 3.2 s at a 1 s interval: 3 or 4 rounds (plus, on Workers, rounds driven by traffic never exceed the interval).
      expect(probes).toBeGreaterThanOrEqual(runtime === "workerd" ? 0 : 3);
      expect(probes).toBeLessThanOrEqual(4);
    }, 10_000);

    test("a client that abandons its upload is not blamed on the target (no passive take-out)", async () => {
      const { connect } = await import("node:net");
      for (let k = 0; k < 3; k++) {
        const socket = connect(active.port, "127.0.0.1");
        await new Promise<void>((ok) => socket.once("connect", () => ok()));
        socket.write(
          `POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked${
            runtime === "workerd" ? "\r\nCF-Connecting-IP: 127.0.0.1" : ""
          }\r\n\r\n5\r\nhello\r\n`,
        );
        await Bun.sleep(150);
        socket.destroy();
      }
      await Bun.sleep(300);
      // maxFails 1, failTimeout 2 s: had any of those aborts counted, its target would be out now.
      const seen = new Set<string>();
      for (let i = 0; i < 9; i++) seen.add(await servedBy(active));
      expect([...seen].sort()).toEqual(["a", "b", "c"]);
    }, 15_000);

    test("zero client-visible errors for GET while one of three targets is killed under load (retries on)", async () => {
      const b = ups[1]!;
      let errors = 0;
      let ok = 0;
      const deadline = Date.now() + 2500;
      const worker = async () => {
        while (Date.now() < deadline) {
          const r = await fetch(`${active.url}/load`, { headers: cf });
          await r.arrayBuffer();
          if (r.status === 200) ok++;
          else errors++;
        }
      };
      const load = Promise.all([worker(), worker(), worker(), worker()]);
      await Bun.sleep(800);
      await b.close();
      await load;
      expect(ok).toBeGreaterThan(100);
      expect(errors).toBe(0);
      // Bring it back on the same port for the tests that follow.
      ups[1] = await startUpstream("b", { port: b.port });
    }, 20_000);

    test("backup takes over only when every primary is down", async () => {
      // b was killed and restarted by the previous test: wait for its probes to pass again.
      expect(await timeUntil(backup, (w) => w.includes("a") && w.includes("b"), 10_000)).toBeLessThan(10_000);
      const seen = new Set<string>();
      for (let i = 0; i < 20; i++) seen.add(await servedBy(backup));
      expect([...seen].sort()).toEqual(["a", "b"]);
      ups[0]!.healthy = false;
      ups[1]!.healthy = false;
      const took = await timeUntil(backup, (w) => w.every((x) => x === "bk"), 10_000);
      expect(took).toBeLessThan(10_000);
      ups[0]!.healthy = true;
      ups[1]!.healthy = true;
      expect(await timeUntil(backup, (w) => !w.includes("bk"), 10_000)).toBeLessThan(10_000);
    }, 30_000);

    test("failover: a group short of minHealthy targets sends its traffic to its fallback group, and takes it back after failbackDelay", async () => {
      const f1 = ups[12]!;
      const seen = async (n: number) => {
        const out = new Set<string>();
        for (let i = 0; i < n; i++) out.add(await servedBy(failover));
        return [...out].sort();
      };
      expect(await seen(10)).toEqual(["f1", "f2"]);
      f1.failWith = 502;
      // Until f1's 502 has taken it out (retried on f2: the client sees 200): one of two left, minHealthy is 2.
      const hits = f1.hits;
      for (let i = 0; i < 4 && f1.hits === hits; i++) await servedBy(failover);
      expect(await seen(10)).toEqual(["f3"]);
      const metrics = await (await fetch(`${failover.url}/__fulcrum/metrics`, { headers: cf })).text();
      expect(metrics).toMatch(/^fulcrum_group_failed_over\{[^}]*group="main"\} 1$/m);
      if (failover.adminUrl) {
        const status = await fulcrumCommand(["status"], { admin: failover.adminUrl });
        expect(status.out).toContain("group main (round_robin; FAILED OVER: its traffic goes to spare (fewer than 2 available))");
        // The change log has it, with why.
        const events = await fulcrumCommand(["events"], { admin: failover.adminUrl });
        expect(events.out).toMatch(/failover +group main +main -> spare .*1 of 2 target\(s\) available, fewer than minHealthy 2/);
      }
      f1.failWith = undefined;
      // failTimeout (2 s) later f1 may take a trial again; the group then needs failbackDelay (1 s) without a break.
      await Bun.sleep(2100);
      const backFrom = Date.now();
      expect(await servedBy(failover)).toBe("f3");
      const took = await timeUntil(failover, (w) => !w.includes("f3"), 5000);
      expect(took).toBeLessThan(5000);
      expect(Date.now() - backFrom).toBeGreaterThanOrEqual(900);
    }, 20_000);

    test("retry budget: in an outage, retries stay within budgetPercent of the requests in flight instead of tripling the load", async () => {
      const group = ups.slice(15, 18);
      for (const g of group) Object.assign(g, { failWith: 502, delayMs: 250 });
      try {
        // 20 requests at once, each allowed 3 tries: 60 attempts without a budget.
        const statuses = await Promise.all(Array.from({ length: 20 }, async () => (await fetch(`${budget.url}/outage`, { headers: cf })).status));
        expect(new Set(statuses)).toEqual(new Set([502]));
        const attempts = group.reduce((n, g) => n + g.hits, 0);
        // About 2 retries in flight at a time (10 % of 20): how many fit in depends on timing, 60 do not.
        expect(attempts).toBeGreaterThanOrEqual(20);
        expect(attempts).toBeLessThanOrEqual(45);
        const metrics = await (await fetch(`${budget.url}/__fulcrum/metrics`, { headers: cf })).text();
        expect(Number(/^fulcrum_group_retries_refused_total\{[^}]*\} (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(5);
      } finally {
        for (const g of group) Object.assign(g, { failWith: undefined, delayMs: 0 });
      }
    });

    test("slow start: a target back from unhealthy ramps its share up from the floor", async () => {
      const r3 = ups[6]!;
      r3.healthy = false;
      expect(await timeUntil(ramp, (w) => !w.includes("r3"), 10_000)).toBeLessThan(10_000);
      r3.healthy = true;
      expect(await timeUntil(ramp, (w) => w.includes("r3"), 10_000)).toBeLessThan(10_000);
      const share = async (ms: number) => {
        let mine = 0;
        let all = 0;
        const end = Date.now() + ms;
        while (Date.now() < end) {
          all++;
          if ((await servedBy(ramp)) === "r3") mine++;
        }
        return mine / all;
      };
      // Weight factor 10% -> 100% over 4 s: its share grows from ~4% towards a third.
      const early = await share(1000);
      await Bun.sleep(2500);
      const late = await share(1000);
      expect(early).toBeLessThan(0.2);
      expect(late).toBeGreaterThan(0.28);
      expect(late).toBeGreaterThan(early * 1.8);
    }, 30_000);

    test("a target returning 503: GETs are retried elsewhere (no client sees it) and passive checks take it out", async () => {
      const e3 = ups[9]!;
      e3.failWith = 503;
      try {
        const statuses = new Set<string>();
        for (let i = 0; i < 30; i++) statuses.add(await servedBy(passive));
        expect([...statuses].sort()).toEqual(["e1", "e2"]);
        // Out after its first failure (maxFails 1) for failTimeout: at most that one attempt reached it.
        expect(e3.hits).toBeLessThanOrEqual(1);
      } finally {
        e3.failWith = undefined;
      }
    });

    test("a POST that got a 503 is not retried on another target (not idempotent); a GET is", async () => {
      const [p1, p2] = [ups[10]!, ups[11]!];
      p1.failWith = 503;
      try {
        const posts: number[] = [];
        for (let i = 0; i < 6; i++) {
          const r = await fetch(`${noRetryPost.url}/order`, { method: "POST", body: "x", headers: cf });
          await r.arrayBuffer();
          posts.push(r.status);
        }
        expect(posts.filter((s) => s === 503).length).toBe(3); // round robin: every other POST met p1 and was answered as is
        expect(p2.methods.POST).toBe(3); // never re-sent to p2
        const gets = await Promise.all(Array.from({ length: 6 }, () => fetch(`${noRetryPost.url}/x`, { headers: cf }).then((r) => r.status)));
        expect(gets).toEqual([200, 200, 200, 200, 200, 200]);
        // With an Idempotency-Key the POST may be retried too.
        for (let i = 0; i < 4; i++) {
          const r = await fetch(`${noRetryPost.url}/order`, { method: "POST", body: "x", headers: { ...cf, "idempotency-key": `k${i}` } });
          expect(r.status).toBe(200);
        }
      } finally {
        p1.failWith = undefined;
      }
    });

    test("a draining target gets no new requests", async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 20; i++) seen.add(await servedBy(drain));
      expect([...seen]).toEqual(["a"]);
    });
  });
}
