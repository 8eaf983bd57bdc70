/**
 * ns per `pick` for every strategy at 3, 100 and 10,000 targets.
 *
 * Realistic context: every target available, nothing tried, in-flight counts
 * varying (random 0..20, and each pick moves one unit from a rotating target
 * to the picked one), keys rotating over 1,024 client IPs / session ids, and
 * latency_aware fed with latencies. Each measurement: a warm-up run, then 7
 * timed runs of ~40 ms each; the median is reported. Construction (table
 * builds) is outside the timed loop and reported separately.
 *
 * Two contexts: the plain one (per-target callbacks only), and the one the
 * balancer provides, which also answers the O(1) hints of `PickContext`:
 * `allEligible()` (true here: nothing tried, down or slow-starting),
 * `totalInflight()` (a running sum kept by the loop, as the balancer keeps
 * its group counter) and `inflightArray()` (the load array itself).
 *
 * `bun test/bench/strategies-pick.ts` prints two markdown tables. Not asserted.
 */
import { createStrategy, strategyNames } from "../../strategies/index.ts";
import type { StrategyOptionsInput } from "../../strategies/options.ts";
import type { PickContext, Strategy, StrategyTarget } from "../../strategies/types.ts";
import { medianNsPerIteration, nowNs } from "./calibrate.ts";

class BenchCtx implements PickContext {
  key: string | undefined = undefined;
  constructor(
    readonly load: Int32Array,
    private seed: number,
  ) {}
  tried(_i: number): boolean {
    return false;
  }
  available(_i: number): boolean {
    return true;
  }
  inflight(i: number): number {
    return this.load[i]!;
  }
  now(): number {
    return 0;
  }
  random(): number {
    // xorshift32: cheap enough not to dominate the measurement
    let x = this.seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.seed = x;
    return (x >>> 0) / 4294967296;
  }
}

/** The balancer's context: the same callbacks plus the O(1) hints. */
class HintedBenchCtx extends BenchCtx {
  total = 0;
  /** The bench calls strategy.inflightChanged on every change, as the balancer does. */
  readonly notifiesInflight = true;
  allEligible(): boolean {
    return true;
  }
  totalInflight(): number {
    return this.total;
  }
  inflightArray(): Int32Array {
    return this.load;
  }
}

const SIZES = [3, 100, 10_000];
const RUNS = 7;
const RUN_NS = 40e6;

function measure(s: Strategy, ctx: BenchCtx, keys: string[], n: number): number {
  const load = ctx.load;
  const hinted = ctx instanceof HintedBenchCtx ? ctx : undefined;
  if (hinted) hinted.total = load.reduce((a, b) => a + b, 0);
  let rot = 0;
  const loop = (iters: number): number => {
    const t0 = nowNs();
    for (let k = 0; k < iters; k++) {
      ctx.key = keys[k & 1023];
      const i = s.pick(ctx);
      load[i] = load[i]! + 1;
      if (hinted) s.inflightChanged?.(i, load[i]!);
      let delta = 1;
      if (load[rot]! > 0) {
        load[rot] = load[rot]! - 1;
        if (hinted) s.inflightChanged?.(rot, load[rot]!);
        delta = 0;
      }
      if (hinted) hinted.total += delta;
      rot = rot + 1 === n ? 0 : rot + 1;
    }
    return nowNs() - t0;
  };
  return medianNsPerIteration(loop, RUNS, RUN_NS);
}

interface Row {
  name: string;
  ns: number[];
  buildMs: number[];
}

const variants: { name: string; strategy: (typeof strategyNames)[number]; options: StrategyOptionsInput; equalWeights?: boolean }[] = [
  ...strategyNames.map((strategy) => ({ name: strategy, strategy, options: {} })),
  { name: "least_connections (equal weights)", strategy: "least_connections", options: {}, equalWeights: true },
  { name: "hash (hashBalanceFactor 1.25)", strategy: "hash", options: { hashBalanceFactor: 1.25 } },
];

export function runPickBench(hints: boolean): Row[] {
  const rows: Row[] = [];
  for (const v of variants) {
    const row: Row = { name: v.name, ns: [], buildMs: [] };
    for (const n of SIZES) {
      const targets: StrategyTarget[] = Array.from({ length: n }, (_, i) => ({
        id: `http://10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:8080`,
        weight: v.equalWeights ? 1 : 1 + (i % 3),
      }));
      const t0 = nowNs();
      const s = createStrategy(v.strategy, targets, v.options);
      row.buildMs.push((nowNs() - t0) / 1e6);
      const load = new Int32Array(n);
      let seed = 12345;
      for (let i = 0; i < n; i++) {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        load[i] = seed % 21;
      }
      if (s.report) { for (let i = 0; i < n; i++) s.report(i, { ok: true, latencyMs: 5 + (i % 17), now: i }); }
      const keys = Array.from(
        { length: 1024 },
        (_, k) => v.strategy === "ip_hash" ? `${(k * 37) & 255}.${(k * 91) & 255}.${k & 255}.${k % 7}` : `session-${k * 2654435761}`,
      );
      const ctx = hints ? new HintedBenchCtx(load, 0x2545f491) : new BenchCtx(load, 0x2545f491);
      row.ns.push(measure(s, ctx, keys, n));
    }
    rows.push(row);
  }
  return rows;
}

export function markdownTable(rows: Row[]): string {
  const fmt = (ns: number) => (ns >= 10_000 ? `${(ns / 1000).toFixed(1)} µs` : `${ns.toFixed(0)} ns`);
  const head = `| strategy | ${SIZES.map((n) => `${n.toLocaleString("en")} targets`).join(" | ")} | build at ${
    SIZES.map((n) => n.toLocaleString("en")).join(" / ")
  } |`;
  const sep = `|---|${"---:|".repeat(SIZES.length)}---:|`;
  const body = rows.map(
    (r) => `| ${r.name} | ${r.ns.map(fmt).join(" | ")} | ${r.buildMs.map((ms) => `${ms.toFixed(2)} ms`).join(" / ")} |`,
  );
  const env = `${typeof Bun !== "undefined" ? `Bun ${Bun.version}` : `Node ${process.version}`}, median of ${RUNS} runs of ~${
    RUN_NS / 1e6
  } ms after warm-up; ns per pick include the context's callbacks.`;
  return [head, sep, ...body, "", env].join("\n");
}

// Each context runs in its own process: two context classes at the same call
// sites would make them polymorphic and slow both down, which the balancer
// (one context class) never sees.
if (import.meta.main) {
  const mode = process.argv[2];
  if (mode === "--plain" || mode === "--hints") {
    console.log(markdownTable(runPickBench(mode === "--hints")));
  } else {
    const { execFileSync } = await import("node:child_process");
    const run = (m: string) => execFileSync(process.execPath, [import.meta.path, m], { encoding: "utf8" });
    console.log(`### Plain context (per-target callbacks only)\n\n${run("--plain")}`);
    console.log(`### Balancer context (allEligible, totalInflight, inflightArray hints)\n\n${run("--hints")}`);
  }
}
