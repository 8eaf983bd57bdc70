/**
 * `least_request`: Envoy LEAST_REQUEST with all weights equal, i.e. the power
 * of d choices (`choice_count`, default 2): draw d *distinct* random eligible
 * targets and send the request to the one with the fewest requests in flight
 * (ties -> the first drawn). Distinct matters with few targets: Envoy used to
 * draw with replacement, so with 2 hosts it compared a host with itself a
 * quarter of the time and lost the "choice" (envoy#11004).
 *
 * Weights. Envoy switches algorithm when weights differ: an EDF scheduler over
 * dynamic weights `weight / (active_requests + 1) ^ active_request_bias`.
 * Fulcrum keeps P2C for every case instead, so a pick stays O(1): candidates
 * are drawn in proportion to weight x slow-start factor, and compared by
 * inflight / weight (cross-multiplied, as nginx least_conn). With nothing in
 * flight every comparison ties, the first draw wins, and traffic splits
 * exactly by weight; under load a heavier target is expected to carry
 * proportionally more in flight.
 */
import type { PickContext, Strategy, StrategyTarget } from "./types.ts";
import { strategyDefaults, type StrategyOptionsInput } from "./options.ts";
import { WeightedSampler } from "./sampler.ts";

export function leastRequest(targets: readonly StrategyTarget[], options: StrategyOptionsInput = {}): Strategy {
  const d = Math.max(2, Math.floor(options.choiceCount ?? strategyDefaults.choiceCount));
  const sampler = new WeightedSampler(targets.map((t) => t.weight));
  const weight = sampler.weight;
  const drawn = new Int32Array(d); // scratch, reused by every pick

  return {
    pick(ctx: PickContext): number {
      const first = sampler.pick(ctx);
      if (first < 0) return -1;
      const wf = ctx.weightFactor;
      drawn[0] = first;
      let best = first;
      let bestLoad = ctx.inflight(first);
      let bestW = wf === undefined ? weight[first]! : weight[first]! * wf.call(ctx, first);
      for (let k = 1; k < d; k++) {
        const c = sampler.pick(ctx, drawn, k);
        if (c < 0) break; // fewer than d eligible targets: compare those there are
        drawn[k] = c;
        const load = ctx.inflight(c);
        const w = wf === undefined ? weight[c]! : weight[c]! * wf.call(ctx, c);
        if (load * bestW < bestLoad * w) {
          best = c;
          bestLoad = load;
          bestW = w;
        }
      }
      return best;
    },
  };
}
