/**
 * ns per recorded request on the hot path: `requestStarted` + `requestFinished`
 * (status class counters at rule, group and target, bytes, one clock read,
 * total and upstream sketch inserts), with handles resolved once as the
 * balancer will. Latencies vary over 0.5–800 ms so sketches use realistic
 * bins. Also: the same without upstreamMs (one sketch insert), the empty
 * baseline loop, and the cost of one /metrics render and one status
 * snapshot at 3 and 300 targets (off the hot path, per scrape).
 *
 * Each measurement: a warm-up, then 7 timed runs; the median is reported.
 * `bun test/bench/metrics-cost.ts` prints a markdown table. Not asserted.
 */
import type { GroupReport } from "../../src/metrics/health-provider.ts";
import { renderPrometheus } from "../../src/metrics/prometheus.ts";
import { createMetrics, type TargetMetrics } from "../../src/metrics/registry.ts";
import { statusSnapshot } from "../../src/metrics/snapshot.ts";

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/** ns per iteration of `body(i)`. */
function measure(iterations: number, body: (i: number) => void): number {
  for (let i = 0; i < iterations; i++) body(i);
  const runs: number[] = [];
  for (let r = 0; r < 7; r++) {
    const t0 = performance.now();
    for (let i = 0; i < iterations; i++) body(i);
    runs.push(((performance.now() - t0) * 1e6) / iterations);
  }
  return median(runs);
}

function setup(targetCount: number) {
  const m = createMetrics({ now: () => performance.now() });
  const rule = m.rule("default");
  const group = m.group("app");
  const targets: TargetMetrics[] = [];
  for (let i = 0; i < targetCount; i++) targets.push(m.target("app", `http://10.0.${i >> 8}.${i & 255}:8080`));
  const latencies = new Float64Array(4096);
  let x = 12345;
  for (let i = 0; i < latencies.length; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    latencies[i] = 0.5 * Math.pow(1600, x / 0x7fffffff); // log-uniform 0.5 .. 800 ms
  }
  const health: GroupReport[] = [{ group: "app", targets: targets.map((t) => ({ url: t.url, state: "healthy" as const, weight: 1, inflight: 0 })) }];
  return { m, rule, group, targets, latencies, health };
}

const N = 1_000_000;
const rows: [string, string][] = [];
{
  const { m, rule, group, targets, latencies } = setup(3);
  const labels = { rule, group };
  const baseline = measure(N, (i) => {
    if (latencies[i & 4095]! < 0) throw new Error("unreachable");
  });
  const full = measure(N, (i) => {
    const tok = m.requestStarted(labels);
    const ms = latencies[i & 4095]!;
    m.requestFinished(tok, {
      status: i % 50 === 0 ? 502 : 200,
      totalMs: ms + 0.3,
      upstreamMs: ms,
      bytesIn: 0,
      bytesOut: 1024,
      retries: 0,
      target: targets[i % 3]!,
    });
  });
  const oneSketch = measure(N, (i) => {
    const tok = m.requestStarted(labels);
    m.requestFinished(tok, { status: 200, totalMs: latencies[i & 4095]!, bytesOut: 1024, retries: 0, target: targets[i % 3]! });
  });
  const noTarget = measure(N, () => {
    const tok = m.requestStarted(labels);
    m.requestFinished(tok, { status: 503, totalMs: 0.05, retries: 0 });
  });
  const withAt = measure(N, (i) => {
    const tok = m.requestStarted(labels);
    const ms = latencies[i & 4095]!;
    m.requestFinished(tok, {
      status: i % 50 === 0 ? 502 : 200,
      totalMs: ms + 0.3,
      upstreamMs: ms,
      bytesIn: 0,
      bytesOut: 1024,
      retries: 0,
      target: targets[i % 3]!,
      at: 5e6,
    });
  });
  const clock = measure(N, () => {
    if (performance.now() < 0) throw new Error("unreachable");
  });
  rows.push(
    ["baseline loop", baseline.toFixed(1)],
    ["performance.now() alone", clock.toFixed(1)],
    ["request: counters + total and upstream sketches", full.toFixed(1)],
    ["request: counters + total sketch only", oneSketch.toFixed(1)],
    ["request: both sketches, caller passes `at` (no clock read)", withAt.toFixed(1)],
    ["request: no target (counters only)", noTarget.toFixed(1)],
  );
}
for (const count of [3, 300]) {
  const { m, rule, group, targets, latencies, health } = setup(count);
  for (let i = 0; i < 200_000; i++) {
    const ms = latencies[i & 4095]!;
    m.requestFinished(m.requestStarted({ rule, group }), { status: 200, totalMs: ms, upstreamMs: ms, retries: 0, target: targets[i % count]! });
  }
  const iters = count === 3 ? 2000 : 50;
  rows.push([`/metrics render, ${count} targets (µs)`, (measure(iters, () => renderPrometheus(m, health)) / 1000).toFixed(1)]);
  rows.push([`status snapshot, ${count} targets (µs)`, (measure(iters, () => statusSnapshot(m, health)) / 1000).toFixed(1)]);
}

console.log(`metrics cost on ${process.versions.bun ? `bun ${process.versions.bun}` : `node ${process.version}`}\n`);
console.log("| what | ns per op (unless noted) |\n|---|---|");
for (const [k, v] of rows) console.log(`| ${k} | ${v} |`);
