/**
 * Every strategy through the real balancer on every runtime: one
 * distribution check each, chosen so that plain round robin would fail it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Balancer, type Runtime, startBalancer } from "./launch.ts";
import { startUpstream, type Upstream } from "./upstream.ts";

type Counts = Record<string, number>;

export function strategyScenarios(runtime: Runtime): void {
  describe(`strategies on ${runtime}`, () => {
    const cf: Record<string, string> = runtime === "workerd" ? { "cf-connecting-ip": "127.0.0.1" } : {};
    let ups: Upstream[] = [];
    let slow: Upstream;
    const b: Record<string, Balancer> = {};

    beforeAll(async () => {
      ups = await Promise.all(["a", "b", "c"].map((n) => startUpstream(n)));
      slow = await startUpstream("slow", { delayMs: 150 });
      const group = (strategy: string, targets: object[], extra: object = {}) => ({
        listen: { port: 0 },
        targetGroups: { app: { strategy, targets, ...extra } },
        defaultAction: { forward: "app" },
      });
      const three = ups.map((u) => ({ url: u.url }));
      const configs: Record<string, object> = {
        round_robin: group("round_robin", [{ url: ups[0]!.url, weight: 5 }, { url: ups[1]!.url, weight: 3 }, { url: ups[2]!.url }]),
        least_connections: group("least_connections", three),
        least_request: group("least_request", three),
        random: group("random", three),
        ip_hash: group("ip_hash", three),
        hash: group("hash", three, { hashKey: { source: "header", name: "x-user" } }),
        latency_aware: group("latency_aware", [{ url: ups[0]!.url }, { url: ups[1]!.url }, { url: slow.url }]),
      };
      const started = await Promise.all(Object.entries(configs).map(async ([name, config]) => [name, await startBalancer(runtime, config)] as const));
      for (const [name, balancer] of started) b[name] = balancer;
    }, 120_000);

    afterAll(async () => {
      await Promise.all(Object.values(b).map((x) => x.stop()));
      await Promise.all([...ups, slow].map((u) => u?.close()));
    }, 30_000);

    async function send(balancer: Balancer, n: number, path = "/s", headers: (i: number) => Record<string, string> = () => ({})): Promise<Counts> {
      const counts: Counts = {};
      for (let i = 0; i < n; i++) {
        const r = await fetch(balancer.url + path, { headers: { ...cf, ...headers(i) } });
        await r.arrayBuffer();
        const by = r.headers.get("x-served-by") ?? `status ${r.status}`;
        counts[by] = (counts[by] ?? 0) + 1;
      }
      return counts;
    }

    test("round_robin honours weights as nginx's and HAProxy's do: 5,3,1 -> exactly 50/30/10 of 90 (smooth WRR)", async () => {
      expect(await send(b.round_robin!, 90)).toEqual({ a: 50, b: 30, c: 10 });
    });

    test("least_connections: with a and b busy, every short request goes to idle c", async () => {
      const busy = [fetch(`${b.least_connections!.url}/slow?ms=1200`, { headers: cf }), fetch(`${b.least_connections!.url}/slow?ms=1200`, { headers: cf })];
      await Bun.sleep(400);
      expect(await send(b.least_connections!, 8)).toEqual({ c: 8 });
      const busyServedBy = (await Promise.all(busy)).map((r) => r.headers.get("x-served-by")).sort();
      expect(busyServedBy).toEqual(["a", "b"]);
    });

    test("least_connections: a response still streaming its body keeps its target busy (nginx counts until the body is relayed)", async () => {
      const streams = [
        await fetch(`${b.least_connections!.url}/stream?ms=1200`, { headers: cf }),
        await fetch(`${b.least_connections!.url}/stream?ms=1200`, { headers: cf }),
      ];
      const streaming = streams.map((r) => r.headers.get("x-served-by")).sort();
      const idle = ["a", "b", "c"].find((t) => !streaming.includes(t))!;
      expect(new Set(streaming).size).toBe(2);
      // Both answered their headers: counting only to headers would spread these over all three.
      expect(await send(b.least_connections!, 8)).toEqual({ [idle]: 8 });
      for (const r of streams) expect(await r.text()).toMatch(/^stream [abc] done$/);
      // Relayed to the end, the streams no longer count: ties again, nginx's round robin over all three.
      // Exactly 3/3/3 only from a zero rotation state; whatever state earlier tests left, nine tied
      // picks give each target 2 to 4 (a leaked count would send all nine to the idle one).
      const after = await send(b.least_connections!, 9);
      for (const t of ["a", "b", "c"]) expect(after[t]).toBeWithin(2, 5);
    });

    // Not on workerd: a Worker is told nothing when its client leaves once the response is under way
    // (request.signal stays quiet), and whether workerd then cancels the relayed body varies. Measured:
    // through Miniflare 3 runs in 8 held the target's count for good; on bare workerd a curl client's
    // count was held until the target's next write (12 of 12), and with a target writing every 200 ms
    // Bun's fetch client still left 1 count in 6 held. README "Runtime notes" says so.
    test.skipIf(runtime === "workerd")("least_connections: a client that leaves in the middle of a streamed body frees its target", async () => {
      const leaving = new AbortController();
      const stream = await fetch(`${b.least_connections!.url}/stream?ms=20000`, { headers: cf, signal: leaving.signal });
      expect(stream.status).toBe(200);
      leaving.abort();
      await stream.text().catch(() => {});
      // The runtime cancels the relayed body when the client's connection closes; give it a moment.
      let counts: Counts = {};
      for (let wait = 0; wait < 20; wait++) {
        await Bun.sleep(100);
        counts = await send(b.least_connections!, 9);
        if (counts.a === 3 && counts.b === 3 && counts.c === 3) break;
      }
      expect(counts).toEqual({ a: 3, b: 3, c: 3 });
      // ...and the target's response was let go of too, as nginx closes the upstream connection.
      expect(ups.find((u) => u.name === stream.headers.get("x-served-by"))!.abandoned).toBe(1);
    });

    test("least_request: power of two choices favours the idle target (round robin would give 1/3)", async () => {
      const busy = [fetch(`${b.least_request!.url}/slow?ms=2000`, { headers: cf }), fetch(`${b.least_request!.url}/slow?ms=2000`, { headers: cf })];
      await Bun.sleep(400);
      const served = await send(b.least_request!, 60);
      const busyTargets = new Set((await Promise.all(busy)).map((r) => r.headers.get("x-served-by")));
      // Whichever target stayed idle: P2C picks it whenever it is drawn (2/3) -> ~40 of 60.
      // Two busy requests on one target are possible too (then two targets are idle): check the least busy one.
      const idle = ["a", "b", "c"].filter((t) => !busyTargets.has(t));
      const idleShare = idle.reduce((n, t) => n + (served[t] ?? 0), 0);
      expect(idleShare).toBeGreaterThanOrEqual(idle.length === 1 ? 28 : 50);
    });

    test("random: 300 requests spread over all three, each between 60 and 140", async () => {
      const counts = await send(b.random!, 300);
      for (const t of ["a", "b", "c"]) {
        expect(counts[t]).toBeGreaterThanOrEqual(60);
        expect(counts[t]).toBeLessThanOrEqual(140);
      }
    });

    test("ip_hash: one client address always lands on one target", async () => {
      const counts = await send(b.ip_hash!, 30);
      expect(Object.values(counts)).toEqual([30]);
    });

    test("hash on a header: each key sticks to one target, and keys spread", async () => {
      const first = new Map<string, string>();
      for (let round = 0; round < 2; round++) {
        for (let k = 0; k < 40; k++) {
          const r = await fetch(`${b.hash!.url}/h`, { headers: { ...cf, "x-user": `user-${k}` } });
          await r.arrayBuffer();
          const by = r.headers.get("x-served-by")!;
          if (round === 0) first.set(`user-${k}`, by);
          else expect(by).toBe(first.get(`user-${k}`)!);
        }
      }
      expect(new Set(first.values()).size).toBe(3);
    });

    test("latency_aware: a target 150 ms slower gets little traffic, but is not starved", async () => {
      // The floor guarantees latencyFloor (0.02) x its weight share (1/3) of 300 picks: at least 2.
      const counts = await send(b.latency_aware!, 300);
      expect(counts.slow ?? 0).toBeLessThanOrEqual(30);
      expect(counts.slow ?? 0).toBeGreaterThanOrEqual(2);
      // The rest goes to the two fast targets (their split follows their own latency noise).
      expect((counts.a ?? 0) + (counts.b ?? 0)).toBeGreaterThanOrEqual(270);
      expect(counts.a).toBeGreaterThanOrEqual(60);
      expect(counts.b).toBeGreaterThanOrEqual(60);
    }, 60_000);
  });
}
