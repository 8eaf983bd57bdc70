/**
 * `hash`: consistent hashing of `ctx.key`, on a ketama ring by default
 * (nginx `hash $key consistent`; see ketama.ts) or a Maglev table
 * (`hashAlgorithm: "maglev"`, Envoy MAGLEV; see maglev.ts), optionally with
 * bounded loads (Mirrokni et al. 2018; HAProxy `hash-balance-factor`, Envoy
 * `hash_balance_factor`).
 *
 * Unavailable / tried targets. The table is built once per target set; health
 * changes do not rebuild it. A key whose owner is ineligible walks on to the
 * table's next candidates (the next points clockwise on the ring, the next
 * probes in Maglev): keys of eligible targets never move, and a down target's
 * keys come back to it when it recovers. After `maxWalk` candidates a linear
 * scan from h mod n decides (only reached when nearly every target is out).
 *
 * Bounded loads (`hashBalanceFactor` c). With T requests in flight and W the
 * total weight of the eligible targets, target i may take the request only
 * if inflight_i < ceil(c x (T + 1) x w_i / W), i.e. after the assignment it
 * carries at most ceil(c x average) (weighted); this is HAProxy's
 * chash_server_is_eligible. The walk above skips full targets, so on the ring
 * a key goes to the next target clockwise with room, as in HAProxy. Some
 * eligible target always has room (the capacities add up to >= c (T + 1) > T),
 * so the final linear scan always finds one. Cost: when the context says all
 * targets are eligible (`allEligible`) and gives the group's in-flight total
 * (`totalInflight`), T and W are O(1) (W is the static total weight; T then
 * also counts requests still in flight at weight-0 targets, as HAProxy's
 * `served` does); otherwise one O(n) pass computes them.
 *
 * No key: a weighted random eligible target (ctx.random). There is nothing to
 * be consistent about, and random spreads keyless traffic evenly instead of
 * piling it on whichever target an empty string hashes to.
 */
import type { PickContext, Strategy, StrategyTarget } from "./types.ts";
import { strategyDefaults, type StrategyOptionsInput } from "./options.ts";
import { WeightedSampler } from "./sampler.ts";
import type { ConsistentTable } from "./consistent_table.ts";
import { hash32 } from "./hash_functions.ts";
import { ketamaTable } from "./ketama.ts";
import { maglevTable } from "./maglev.ts";

export { hash32, mix32 } from "./hash_functions.ts";
export { buildMaglevTable } from "./maglev.ts";
export { buildKetamaRing } from "./ketama.ts";

const SEED_KEY = 0x165667b1;

export function hash(targets: readonly StrategyTarget[], options: StrategyOptionsInput = {}): Strategy {
  const n = targets.length;
  const factor = options.hashBalanceFactor;
  const algorithm = options.hashAlgorithm ?? strategyDefaults.hashAlgorithm;
  const table: ConsistentTable = algorithm === "maglev" ? maglevTable(targets, options.hashTableSize ?? strategyDefaults.hashTableSize) : ketamaTable(targets);
  const maxWalk = table.maxWalk;
  const sampler = new WeightedSampler(targets.map((t) => t.weight));
  const weight = sampler.weight;
  const totalWeight = sampler.total;

  const eligible = (ctx: PickContext, i: number): boolean =>
    weight[i]! > 0 &&
    !ctx.tried(i) &&
    ctx.available(i) &&
    (ctx.weightFactor === undefined || ctx.weightFactor(i) > 0);

  const pickUnbounded = (ctx: PickContext, h: number): number => {
    const s = table.start(h);
    for (let j = 0; j < maxWalk; j++) {
      const t = table.candidate(s, j);
      if (t >= 0 && eligible(ctx, t)) return t;
    }
    for (let k = 0, i = h % n; k < n; k++, i = i + 1 === n ? 0 : i + 1) if (eligible(ctx, i)) return i;
    return -1;
  };

  /** Room for one more: inflight_i < ceil(scale x w_i). The epsilon keeps an exact integer from rounding up. */
  const fits = (ctx: PickContext, i: number, scale: number): boolean => {
    const w = ctx.weightFactor === undefined ? weight[i]! : weight[i]! * ctx.weightFactor(i);
    return ctx.inflight(i) < Math.ceil(scale * w - 1e-9);
  };

  /** c x (T + 1) / W over the eligible targets, or -1 if none is eligible. */
  const capacityScale = (ctx: PickContext, c: number): number => {
    if (ctx.totalInflight !== undefined && ctx.allEligible?.() === true) {
      return totalWeight > 0 ? (c * (ctx.totalInflight() + 1)) / totalWeight : -1;
    }
    let total = 0;
    let sumW = 0;
    for (let i = 0; i < n; i++) {
      if (!eligible(ctx, i)) continue;
      total += ctx.inflight(i);
      sumW += ctx.weightFactor === undefined ? weight[i]! : weight[i]! * ctx.weightFactor(i);
    }
    return sumW > 0 ? (c * (total + 1)) / sumW : -1;
  };

  const pickBounded = (ctx: PickContext, h: number, c: number): number => {
    const scale = capacityScale(ctx, c);
    if (scale < 0) return -1;
    const s = table.start(h);
    for (let j = 0; j < maxWalk; j++) {
      const t = table.candidate(s, j);
      if (t >= 0 && eligible(ctx, t) && fits(ctx, t, scale)) return t;
    }
    let fallback = -1;
    for (let k = 0, i = h % n; k < n; k++, i = i + 1 === n ? 0 : i + 1) {
      if (!eligible(ctx, i)) continue;
      if (fits(ctx, i, scale)) return i;
      if (fallback < 0) fallback = i; // unreachable in exact arithmetic, kept for safety
    }
    return fallback;
  };

  return {
    pick(ctx: PickContext): number {
      if (n === 0) return -1;
      const key = ctx.key;
      if (key === undefined) return sampler.pick(ctx);
      const h = hash32(key, SEED_KEY);
      return factor === undefined ? pickUnbounded(ctx, h) : pickBounded(ctx, h, factor);
    },
  };
}
