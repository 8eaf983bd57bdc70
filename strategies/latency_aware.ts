/**
 * `latency_aware`: peak-EWMA with power of two choices, after Finagle's
 * `p2cPeakEwma` and Linkerd's (tower) `PeakEwma`, plus an explicit
 * anti-starvation floor.
 *
 * Estimate. Per target, a time-weighted EWMA of the latency reported through
 * `report(i, { latencyMs, now })`, with time constant τ = `latencyDecay` (seconds in the config, default 10):
 *   w = exp(-(now - lastSample) / τ)
 *   rtt > ewma ? ewma = rtt                       // "peak": react at once to slowness
 *              : ewma = ewma · w + rtt · (1 - w)  // recover at the pace of τ
 * Peaks replace the estimate so one slow response immediately diverts
 * traffic; good news only counts in proportion to the time it covers, so one
 * lucky fast response does not undo a slow streak. A failure must never make
 * a target look faster (a backend that refuses connections in 1 ms would
 * otherwise black-hole traffic), so a failed attempt counts as a peak of
 * max(latencyMs, 2 × estimate): each failure doubles the target's cost until
 * the health policy takes it out of rotation. Finagle and tower also decay
 * the estimate toward 0 on every pick, which periodically herds traffic back
 * onto a known-slow target; here re-probing is the floor's job instead, at a
 * bounded, configured rate.
 *
 * Cost = ewma × (inflight + 1) / weight (weight × slow-start factor): queueing
 * at the target multiplies its latency. Two distinct eligible targets are
 * drawn in proportion to weight and the cheaper wins (ties -> first drawn).
 *
 * Unmeasured targets follow Finagle: cost 0 while nothing is in flight (so a
 * new or recovered target is probed by the very next draw that finds it),
 * and a large penalty + inflight once a probe is out, so a burst does not pile
 * onto a target before its first response says anything about it.
 *
 * Floor (traefik#12306: adaptive balancing starves servers that are merely a
 * little slower, and a starved server is never measured again). A fraction
 * `latencyFloor` of picks, spaced evenly (one every 1/latencyFloor picks),
 * goes to a weighted rotation over the eligible targets regardless of cost.
 * Every eligible target therefore gets at least latencyFloor × its weight
 * share of the traffic, deterministically, and keeps a fresh estimate.
 */
import type { AttemptOutcome, PickContext, Strategy, StrategyTarget } from "./types.ts";
import { strategyDefaults, type StrategyOptionsInput } from "./options.ts";
import { WeightedSampler } from "./sampler.ts";

/** Finagle's penalty for an unmeasured target with requests outstanding (ms, effectively infinite). */
const UNMEASURED_PENALTY = 1e12;

export function latencyAware(targets: readonly StrategyTarget[], options: StrategyOptionsInput = {}): Strategy {
  const n = targets.length;
  // Config durations are seconds; the estimate works in the milliseconds that `report` carries.
  const tau = (options.latencyDecay ?? strategyDefaults.latencyDecay) * 1000;
  const floor = options.latencyFloor ?? strategyDefaults.latencyFloor;
  const sampler = new WeightedSampler(targets.map((t) => t.weight));
  const weight = sampler.weight;
  const ewma = new Float64Array(n);
  const stamp = new Float64Array(n);
  const measured = new Uint8Array(n);
  const drawn = new Int32Array(1);

  let credit = 0; // floor accumulator: an exploration pick whenever it reaches 1
  let rotCursor = n - 1; // weighted rotation: the cursor's target gets `rotLeft` more turns
  let rotLeft = 0;

  const eligible = (ctx: PickContext, i: number): boolean =>
    weight[i]! > 0 &&
    !ctx.tried(i) &&
    ctx.available(i) &&
    (ctx.weightFactor === undefined || ctx.weightFactor(i) > 0);

  /** Next target of the weighted rotation (target i takes weight_i consecutive turns). */
  const rotate = (ctx: PickContext): number => {
    for (let steps = 0; steps <= 2 * n; steps++) {
      if (rotLeft <= 0) {
        rotCursor = rotCursor + 1 === n ? 0 : rotCursor + 1;
        rotLeft = weight[rotCursor]!;
        continue;
      }
      if (eligible(ctx, rotCursor)) {
        rotLeft--;
        return rotCursor;
      }
      rotLeft = 0; // an ineligible target forfeits its turns in this cycle
    }
    return -1;
  };

  const cost = (ctx: PickContext, i: number): number => {
    const inflight = ctx.inflight(i);
    const w = ctx.weightFactor === undefined ? weight[i]! : weight[i]! * ctx.weightFactor(i);
    if (measured[i] === 0) return inflight === 0 ? 0 : (UNMEASURED_PENALTY + inflight) / w;
    return (ewma[i]! * (inflight + 1)) / w;
  };

  return {
    pick(ctx: PickContext): number {
      if (floor > 0) {
        credit += floor;
        if (credit >= 1 - 1e-9) {
          credit -= 1;
          const r = rotate(ctx);
          if (r >= 0) return r;
        }
      }
      const a = sampler.pick(ctx);
      if (a < 0) return -1;
      drawn[0] = a;
      const b = sampler.pick(ctx, drawn, 1);
      if (b < 0) return a;
      return cost(ctx, b) < cost(ctx, a) ? b : a;
    },

    report(i: number, outcome: AttemptOutcome): void {
      if (i < 0 || i >= n) return;
      let rtt = outcome.latencyMs > 0 ? outcome.latencyMs : 0;
      if (!outcome.ok && measured[i] === 1 && rtt < 2 * ewma[i]!) rtt = 2 * ewma[i]!;
      if (measured[i] === 0) {
        measured[i] = 1;
        ewma[i] = rtt;
      } else if (rtt > ewma[i]!) {
        ewma[i] = rtt;
      } else {
        const elapsed = outcome.now - stamp[i]!;
        const w = elapsed > 0 ? Math.exp(-elapsed / tau) : 1;
        ewma[i] = ewma[i]! * w + rtt * (1 - w);
      }
      stamp[i] = outcome.now;
    },

    exportLearned(i: number): unknown {
      return measured[i] === 1 ? { ewma: ewma[i]!, stamp: stamp[i]! } : undefined;
    },

    importLearned(i: number, learned: unknown): void {
      const l = learned as { ewma?: unknown; stamp?: unknown } | undefined;
      if (i < 0 || i >= n || typeof l?.ewma !== "number" || typeof l.stamp !== "number") return;
      measured[i] = 1;
      ewma[i] = l.ewma;
      stamp[i] = l.stamp;
    },
  };
}
