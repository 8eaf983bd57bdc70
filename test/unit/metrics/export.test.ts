/**
 * Several processes' metrics added into one: counters and histograms sum, and the merged
 * sketches answer the quantiles of every observation together (what one process seeing
 * all of them would answer), after a trip through JSON as over the workers' channel.
 */
import { describe, expect, test } from "bun:test";
import { exportMetrics, hostHealth, mergeExports } from "../../../src/metrics/export.ts";
import { quantilesOf } from "../../../src/metrics/latency-sketch.ts";
import { createMetrics, type Metrics } from "../../../src/metrics/registry.ts";

const now = () => 50_000;

function served(latencies: readonly number[]): Metrics {
  const m = createMetrics({ now });
  const target = m.target("app", "http://a:1");
  for (const ms of latencies) {
    const token = m.requestStarted({ rule: m.rule("default"), group: m.group("app") });
    m.requestFinished(token, { status: ms > 90 ? 503 : 200, totalMs: ms, upstreamMs: ms / 2, retries: 0, target, bytesOut: 10 });
  }
  return m;
}

const viaJson = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

describe("metrics export and merge", () => {
  test("two processes merged equal one process that saw every request", () => {
    const first = Array.from({ length: 60 }, (_, i) => 1 + i);
    const second = Array.from({ length: 40 }, (_, i) => 61 + i);
    const health = [{ group: "app", targets: [{ url: "http://a:1", state: "healthy" as const, weight: 1, inflight: 2 }] }];
    const exports = [exportMetrics(served(first), health, "h:1"), exportMetrics(served(second), health, "h:2")].map(viaJson);
    const merged = mergeExports(exports, { now });
    const one = served([...first, ...second]);
    const [mt, ot] = [merged.groups.get("app")!.targets[0]!, one.groups.get("app")!.targets[0]!];
    expect([...mt.responses]).toEqual([...ot.responses]);
    expect(mt.bytesOut).toBe(1000);
    expect([...mt.histogram.counts]).toEqual([...ot.histogram.counts]);
    expect(mt.histogram.sum).toBe(ot.histogram.sum);
    expect([...merged.rules.get("default")!.responses]).toEqual([0, 90, 0, 0, 10]);
    const epoch = merged.epoch();
    expect(quantilesOf([mt.total], epoch)).toEqual(quantilesOf([ot.total], epoch));
    expect(quantilesOf([mt.upstream], epoch)).toEqual(quantilesOf([ot.upstream], epoch));
    expect(mt.total.count).toBe(100);
    expect(mt.total.sum).toBe(ot.total.sum);
    expect(hostHealth(health, exports)[0]!.targets[0]!.inflight).toBe(4);
  });

  test("buckets outside the window are not sent, and a merged registry can still record", () => {
    let t = 0;
    const m = createMetrics({ now: () => t });
    const target = m.target("g", "http://b:1");
    m.requestFinished(m.requestStarted({ rule: m.rule("1"), group: m.group("g") }), { status: 200, totalMs: 5, retries: 0, target });
    t = 10 * 60_000; // ten minutes on: the first bucket has left the one-minute window
    const x = exportMetrics(m, [], "h:1");
    expect(x.groups[0]!.targets[0]!.total.buckets).toEqual([]);
    expect(x.groups[0]!.targets[0]!.total.count).toBe(1);
    const merged = mergeExports([x], { now: () => t });
    const mt = merged.target("g", "http://b:1");
    mt.total.record(7, merged.epoch());
    expect(quantilesOf([mt.total], merged.epoch()).count).toBe(1);
  });

  test("a group named like an Object.prototype member reads no prototype value", () => {
    const x = exportMetrics(createMetrics({ now }), [], "h:1");
    const health = [{ group: "toString", targets: [{ url: "constructor", state: "healthy" as const, weight: 1, inflight: 0 }] }];
    expect(hostHealth(health, [x])[0]!.targets[0]!.inflight).toBe(0);
  });
});
