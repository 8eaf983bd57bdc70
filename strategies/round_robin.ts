/**
 * `round_robin`: plain rotation over the eligible targets. Weights are ignored
 * except that weight 0 means "no new traffic" (HAProxy `static-rr` with equal
 * weights, Caddy `round_robin`). Use `weighted_round_robin` for weights.
 *
 * A cursor advances until it lands on an eligible target, so a pick costs O(1)
 * when everything is up and O(k) when k targets in a row are skipped. The
 * cursor moves past the chosen target, so a retry (which marks it tried)
 * continues the rotation instead of hammering the same neighbour.
 *
 * The slow-start factor is not honoured here beyond "factor 0 = skip": an
 * unweighted rotation has nothing to scale. Slow start needs a weighted strategy.
 */
import type { PickContext, Strategy, StrategyTarget } from "./types.ts";
import type { StrategyOptionsInput } from "./options.ts";

export function roundRobin(targets: readonly StrategyTarget[], _options: StrategyOptionsInput = {}): Strategy {
  const n = targets.length;
  const hasWeight = new Uint8Array(n);
  for (let i = 0; i < n; i++) hasWeight[i] = targets[i]!.weight > 0 ? 1 : 0;
  let cursor = 0;

  return {
    pick(ctx: PickContext): number {
      const wf = ctx.weightFactor;
      let i = cursor;
      for (let k = 0; k < n; k++) {
        if (hasWeight[i] === 1 && !ctx.tried(i) && ctx.available(i) && (wf === undefined || wf.call(ctx, i) > 0)) {
          cursor = i + 1 === n ? 0 : i + 1;
          return i;
        }
        i = i + 1 === n ? 0 : i + 1;
      }
      return -1;
    },
  };
}
