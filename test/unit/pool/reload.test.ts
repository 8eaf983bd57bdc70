/**
 * A reload (Balancer.reload: a new config built, then swapped in one step)
 * keeps what the pool knows of every target the new config still lists:
 * health, in-flight counts and what the strategy learnt; a target it drops
 * finishes its requests, then leaves the pool and the metrics.
 */
import { describe, expect, test } from "bun:test";
import { createBalancer } from "../../../src/app/balancer.ts";
import { validateConfig } from "../../../src/config/load.ts";
import { type Platform, type UpstreamRequest } from "../../../src/platform.ts";
import { quietPlatform } from "../quiet-platform.ts";
import type { Tier } from "../../../src/pool/tier.ts";

const A = "http://10.0.0.1";
const B = "http://10.0.0.2";
const C = "http://10.0.0.3";

function world(strategy: string) {
  let clock = 1_000;
  const hits: string[] = [];
  /** Requests held open by the fake target, by origin. */
  const held = new Map<string, (() => void)[]>();
  const failing = new Set<string>();
  const upstream = async (req: UpstreamRequest): Promise<Response> => {
    hits.push(req.origin);
    if (failing.has(req.origin)) return new Response("down", { status: 502 });
    if (req.path === "/hold") await new Promise<void>((done) => held.set(req.origin, [...(held.get(req.origin) ?? []), done]));
    return new Response("ok");
  };
  const configOf = (targets: string[]) =>
    validateConfig({
      listen: { port: 0 },
      targetGroups: {
        app: {
          strategy,
          targets: targets.map((url) => ({ url })),
          passive: { maxFails: 1, failTimeout: 60, failOn: ["connect", "reset", "timeout", 502] },
          retries: { tries: 1 },
        },
      },
      defaultAction: { forward: "app" },
    });
  const platform: Platform = { ...quietPlatform, upstream, now: () => clock };
  const app = createBalancer(configOf([A, B]), platform);
  const send = async (path = "/") => {
    const r = await app.fetch(new Request(`http://lb.test${path}`));
    await r.arrayBuffer();
    return r.status;
  };
  const release = (origin: string) => held.get(origin)?.shift()?.();
  return { app, send, hits, held, failing, configOf, release, advance: (ms: number) => (clock += ms) };
}

describe("reload keeps the pool", () => {
  test("a target passive checks took out stays out; a new target joins", async () => {
    const w = world("round_robin");
    await w.app.balancer.ready();
    w.failing.add("http://10.0.0.1"); // an origin: URL drops the default port
    for (let i = 0; i < 2; i++) await w.send();
    w.failing.clear();
    w.hits.length = 0;
    for (let i = 0; i < 4; i++) await w.send();
    expect(new Set(w.hits)).toEqual(new Set(["http://10.0.0.2"]));
    await w.app.balancer.reload("test", { config: { config: w.configOf([A, B, C]), version: "next" } });
    w.hits.length = 0;
    for (let i = 0; i < 6; i++) await w.send();
    expect(new Set(w.hits)).toEqual(new Set(["http://10.0.0.2", "http://10.0.0.3"]));
  });

  test("requests in flight stay counted: least_connections after a reload still sees them", async () => {
    const w = world("least_connections");
    await w.app.balancer.ready();
    const first = w.send("/hold"); // least_connections: to A (ties go to the first)
    await Bun.sleep(1);
    expect(w.held.get("http://10.0.0.1")?.length).toBe(1);
    await w.app.balancer.reload("test", { config: { config: w.configOf([A, B]), version: "next" } });
    w.hits.length = 0;
    await w.send(); // A has one in flight, B none: B
    expect(w.hits).toEqual(["http://10.0.0.2"]);
    expect(w.app.balancer.group("app").targets[0]!.inflight).toBe(1);
    w.release("http://10.0.0.1");
    expect(await first).toBe(200);
    expect(w.app.balancer.group("app").targets[0]!.inflight).toBe(0);
  });

  test("a target the new config drops finishes its request, then leaves the pool and the metrics", async () => {
    const w = world("round_robin");
    await w.app.balancer.ready();
    const onA = w.send("/hold");
    await Bun.sleep(1);
    const targetA = w.app.balancer.group("app").targets[0]!;
    await w.app.balancer.reload("test", { config: { config: w.configOf([B]), version: "next" } });
    expect(w.app.balancer.pool.targetsOf("app").map((t) => t.url)).toEqual([A, B]); // still running on A
    expect(targetA.binding).toBeUndefined(); // takes nothing new
    w.hits.length = 0;
    for (let i = 0; i < 3; i++) await w.send();
    expect(new Set(w.hits)).toEqual(new Set(["http://10.0.0.2"]));
    w.release("http://10.0.0.1");
    expect(await onA).toBe(200);
    expect(w.app.balancer.pool.targetsOf("app").map((t) => t.url)).toEqual([B]);
    expect(w.app.balancer.metrics.groups.get("app")!.targets.map((t) => t.url)).toEqual([B]);
  });

  test("what latency_aware learnt carries over: the slow target stays avoided", async () => {
    const w = world("latency_aware");
    const slow = new Map([["http://10.0.0.1", 400], ["http://10.0.0.2", 5]]);
    const upstream = w.app.balancer.platform.upstream;
    // Latency is measured with the injected clock: the fake target advances it.
    (w.app.balancer.platform as { upstream: typeof upstream }).upstream = async (req) => {
      w.advance(slow.get(req.origin) ?? 5);
      return upstream(req);
    };
    await w.app.balancer.ready();
    for (let i = 0; i < 40; i++) await w.send();
    await w.app.balancer.reload("test", { config: { config: w.configOf([A, B]), version: "next" } });
    // The new strategy starts with the estimates (ms), not unmeasured (which would send the next requests to A to find out).
    const learnt = w.app.balancer.group("app").targets.map((t) =>
      (t.binding!.tier as Tier).strategy.exportLearned?.(t.binding!.tierIndex) as { ewma: number } | undefined
    );
    expect(learnt[0]?.ewma).toBeGreaterThan(300);
    expect(learnt[1]?.ewma).toBeLessThan(50);
    w.hits.length = 0;
    for (let i = 0; i < 50; i++) await w.send();
    const toSlow = w.hits.filter((h) => h === "http://10.0.0.1").length;
    expect(toSlow).toBeLessThanOrEqual(5); // the floor's share (latencyFloor 0.02), not half
  });
});
