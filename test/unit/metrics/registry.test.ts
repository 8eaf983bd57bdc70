import { describe, expect, test } from "bun:test";
import { createMetrics, statusClassIndex } from "../../../src/metrics/registry.ts";
import { statusSnapshot } from "../../../src/metrics/snapshot.ts";
import { appHealth, clock, fedMetrics } from "./fixtures.ts";

describe("metrics registry", () => {
  test("status classes: 1xx..5xx, anything else counts as 5xx", () => {
    expect([101, 200, 204, 302, 404, 499, 500, 599].map(statusClassIndex)).toEqual([0, 1, 1, 2, 3, 3, 4, 4]);
    expect([0, 99, 600, 999].map(statusClassIndex)).toEqual([4, 4, 4, 4]);
  });

  test("handles are created once and reused", () => {
    const m = createMetrics({ now: () => 0 });
    expect(m.target("g", "http://a:1")).toBe(m.target("g", "http://a:1"));
    expect(m.group("g")).toBe(m.target("g", "http://a:1").group);
    expect(m.rule("default")).toBe(m.rule("default"));
    expect(m.group("g").targets).toHaveLength(1);
  });

  test("counts by rule, group and target; active gauges go up and back down", () => {
    const m = createMetrics({ now: () => 0 });
    const rule = m.rule("default");
    const group = m.group("g");
    const t = m.target("g", "http://a:1");
    const tok = m.requestStarted({ rule, group });
    expect([rule.active, group.active]).toEqual([1, 1]);
    m.requestFinished(tok, { status: 503, totalMs: 1, retries: 2, error: "timeout", target: t, bytesIn: 5, bytesOut: 7 });
    m.requestFinished(tok, { status: 503, totalMs: 1, retries: 2, target: t }); // finishing twice is a no-op
    expect([rule.active, group.active]).toEqual([0, 0]);
    expect([...rule.responses]).toEqual([0, 0, 0, 0, 1]);
    expect([...group.responses]).toEqual([0, 0, 0, 0, 1]);
    expect(group.retries).toBe(2);
    expect(t.errors).toEqual({ connect: 0, timeout: 1, reset: 0 });
    expect([t.bytesIn, t.bytesOut, t.total.count, t.upstream.count]).toEqual([5, 7, 1, 0]);
  });

  test("a request finished with its body still streaming stays active until it is closed; its relayed bytes count then", () => {
    const m = createMetrics({ now: () => 0 });
    const rule = m.rule("default");
    const group = m.group("g");
    const t = m.target("g", "http://a:1");
    const tok = m.requestStarted({ rule, group });
    m.requestFinished(tok, { status: 200, totalMs: 1, retries: 0, target: t, bytesOut: 0, open: true });
    expect([rule.active, group.active, rule.responses[1], t.responses[1]]).toEqual([1, 1, 1, 1]);
    m.requestClosed(tok, t, 4096);
    expect([rule.active, group.active, t.bytesOut]).toEqual([0, 0, 4096]);
  });

  test("a request with no target counts at rule and group only", () => {
    const m = createMetrics({ now: () => 0 });
    const tok = m.requestStarted({ rule: m.rule("default"), group: m.group("g") });
    const t = m.target("g", "http://a:1");
    m.requestFinished(tok, { status: 503, totalMs: 0.1, retries: 0 });
    expect(m.group("g").responses[4]).toBe(1);
    expect(t.responses[4]).toBe(0);
  });

  test("websockets and ejections", () => {
    const m = createMetrics({ now: () => 0 });
    const group = m.group("g");
    const target = m.target("g", "http://a:1");
    m.wsOpened({ group, target });
    m.wsOpened({ group, target });
    m.wsClosed({ group, target });
    m.ejection(target);
    expect([group.wsActive, target.wsActive, target.wsTotal, target.ejections]).toEqual([1, 1, 2, 1]);
  });

  test("quantiles are within 1 % of the exact values", () => {
    const c = clock();
    const m = createMetrics({ now: c.now });
    const t = m.target("g", "http://a:1");
    const values: number[] = [];
    for (let i = 0; i < 5000; i++) values.push(0.2 + ((i * 7919) % 5000) * 0.37); // 0.2 .. ~1850 ms, shuffled
    for (const v of values) {
      m.requestFinished(m.requestStarted({ rule: m.rule("d"), group: m.group("g") }), { status: 200, totalMs: v, upstreamMs: v / 2, retries: 0, target: t });
    }
    const sorted = [...values].sort((a, b) => a - b);
    const exact = (q: number) => sorted[Math.floor(q * (sorted.length - 1))]!;
    const snap = statusSnapshot(m, []).groups[0]!.targets[0]!;
    for (const [q, got] of [[0.5, snap.latency.p50], [0.95, snap.latency.p95], [0.99, snap.latency.p99]] as const) {
      expect(Math.abs(got! - exact(q)) / exact(q)).toBeLessThanOrEqual(0.01 + 1e-9);
    }
    expect(Math.abs(snap.upstreamLatency.p99! - exact(0.99) / 2) / (exact(0.99) / 2)).toBeLessThanOrEqual(0.01 + 1e-9);
  });

  test("quantiles slide: old buckets age out, sum and count stay cumulative", () => {
    const c = clock(0);
    const m = createMetrics({ now: c.now, window: { bucketMs: 1000, buckets: 3 } });
    const t = m.target("g", "http://a:1");
    const record = (ms: number) =>
      m.requestFinished(m.requestStarted({ rule: m.rule("d"), group: m.group("g") }), { status: 200, totalMs: ms, retries: 0, target: t });
    record(1000);
    c.t = 1500;
    record(10);
    let snap = statusSnapshot(m, []).groups[0]!.targets[0]!;
    expect(snap.latency.count).toBe(2);
    c.t = 3200; // the bucket [0,1000) is now outside the 3 s window; [1000,2000) is not
    snap = statusSnapshot(m, []).groups[0]!.targets[0]!;
    expect(snap.latency.count).toBe(1);
    expect(snap.latency.p99).toBeCloseTo(10, 0);
    c.t = 10_000; // everything aged out: no quantiles, counters intact
    snap = statusSnapshot(m, []).groups[0]!.targets[0]!;
    expect(snap.latency).toEqual({ count: 0, p50: null, p95: null, p99: null });
    expect(snap.requests).toBe(2);
    expect([t.total.count, t.total.sum]).toEqual([2, 1010]);
    record(5); // a slot reused after wrap-around starts afresh
    expect(statusSnapshot(m, []).groups[0]!.targets[0]!.latency.count).toBe(1);
  });

  test("snapshot joins health: states, healthy hosts, unknown targets, rates", () => {
    const m = fedMetrics();
    const extra = m.target("app", "http://10.0.0.9:1"); // known to metrics only
    expect(extra.url).toBe("http://10.0.0.9:1");
    const snap = statusSnapshot(m, appHealth("unhealthy"));
    expect(snap.balancer).toBe("edge");
    expect(snap.time).toBe("2025-01-02T03:04:05.000Z");
    const g = snap.groups[0]!;
    expect([g.name, g.healthyHosts, g.totalHosts, g.requests, g.retries]).toEqual(["app", 1, 3, 101, 1]);
    expect(g.errorRate).toBeCloseTo(1 / 101, 10);
    expect(g.targets.map((t) => [t.url, t.state])).toEqual([
      ["http://10.0.0.1:9001", "healthy"],
      ["http://10.0.0.2:9002", "unhealthy"],
      ["http://10.0.0.9:1", "unknown"],
    ]);
    const [a, b] = g.targets;
    expect(a!.requests).toBe(100);
    expect(a!.upstreamErrors.connect).toBe(1);
    expect(a!.lastCheck?.detail).toBe("200 in 3 ms");
    expect([b!.errorRate, b!.upstreamErrors.reset, b!.activeWebSockets, b!.ejections, b!.weight]).toEqual([1, 1, 1, 1, 3]);
    expect(snap.rules).toEqual([{ name: "10", activeRequests: 0, requests: 101, responses: { "1xx": 0, "2xx": 100, "3xx": 0, "4xx": 0, "5xx": 1 } }]);
    expect(JSON.parse(JSON.stringify(snap))).toEqual(snap); // JSON-safe: no NaN
  });
});
