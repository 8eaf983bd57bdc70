/**
 * `hash`: consistent hashing of `ctx.key` with a Maglev lookup table (Eisenbud
 * et al., NSDI 2016; Envoy MAGLEV, default table size 65537), optionally with
 * bounded loads (Mirrokni et al. 2018; HAProxy `hash-balance-factor`, Envoy
 * `hash_balance_factor`).
 *
 * Table. Every target with weight > 0 gets a permutation of the M slots
 * (offset = h1(id) mod M, skip = h2(id) mod (M-1) + 1; M prime, so each
 * permutation visits every slot). Targets take turns claiming their next free
 * slot until the table is full. Weights work as in Envoy: a target of weight w
 * takes a turn in round r only while its claims stay <= r x w / max weight,
 * so slot counts are proportional to weight. The turn order is by target id
 * (not config position) so the table depends only on the set of (id, weight);
 * re-adding a removed target rebuilds the identical table. Shares are even
 * only if M is well above the number of targets (Envoy: M >= 100 x hosts).
 *
 * Lookup is O(1): hash the key once, read table[h mod M].
 *
 * Unavailable / tried targets. The table is not rebuilt when health changes
 * (the balancer rebuilds strategies only on target-set changes). A key whose
 * slot holds an ineligible target walks on to successive probes
 * table[mix(h, j) mod M], j = 1, 2, ...: keys of healthy targets never move,
 * and a down target's keys spread over the others in proportion to their
 * slots. After MAX_PROBES misses a linear walk from h mod n decides.
 *
 * Bounded loads (`hashBalanceFactor` c). With T requests in flight over the
 * eligible targets and W their total weight, target i may take the request
 * only if inflight_i < ceil(c x (T + 1) x w_i / W), i.e. after the assignment
 * it carries at most ceil(c x average) (weighted). The probe sequence above
 * skips full targets. Some eligible target always has room (the capacities
 * add up to >= c (T + 1) > T), so the final linear walk always finds one.
 * Cost: computing T and W is one pass over the targets, O(n) per pick, since
 * the context exposes in-flight counts per target only.
 *
 * No key: a weighted random eligible target (ctx.random). There is nothing to
 * be consistent about, and random spreads keyless traffic evenly instead of
 * piling it on whichever target an empty string hashes to.
 */
import type { PickContext, Strategy, StrategyTarget } from "./types.ts";
import { isPrime, strategyDefaults, type StrategyOptionsInput } from "./options.ts";
import { WeightedSampler } from "./sampler.ts";

const SEED_OFFSET = 0x5bd1e995;
const SEED_SKIP = 0x27d4eb2f;
const SEED_KEY = 0x165667b1;
const MAX_PROBES = 32;

/** murmur3's 32-bit finalizer: full avalanche of a 32-bit value. */
export function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** FNV-1a over UTF-16 code units, seeded, then mix32. Fast, not cryptographic. */
export function hash32(s: string, seed = 0): number {
  let h = (0x811c9dc5 ^ seed) | 0;
  for (let k = 0; k < s.length; k++) {
    h ^= s.charCodeAt(k);
    h = Math.imul(h, 0x01000193);
  }
  return mix32(h);
}

/** The j-th probe of key hash h (j = 0 is the key's own slot). */
function probe(h: number, j: number): number {
  return j === 0 ? h : mix32((h ^ Math.imul(j, 0x9e3779b9)) >>> 0);
}

/** Build the Maglev table: slot -> target index. Exported for tests and benchmarks. */
export function buildMaglevTable(targets: readonly StrategyTarget[], size: number): Int32Array {
  if (!isPrime(size)) throw new RangeError(`hashTableSize ${size}: expected a prime number`);
  const table = new Int32Array(size).fill(-1);
  const order: number[] = [];
  let maxW = 0;
  for (let i = 0; i < targets.length; i++) {
    const w = targets[i]!.weight;
    if (w > 0) {
      order.push(i);
      if (w > maxW) maxW = w;
    }
  }
  if (order.length === 0) return table;
  order.sort((a, b) => {
    const ia = targets[a]!.id;
    const ib = targets[b]!.id;
    return ia < ib ? -1 : ia > ib ? 1 : a - b;
  });
  const k = order.length;
  const pos = new Float64Array(k); // next permutation slot of each entry
  const skip = new Float64Array(k);
  const w = new Float64Array(k);
  const claimed = new Float64Array(k); // claims so far x maxW (Envoy's target_weight)
  for (let e = 0; e < k; e++) {
    const t = targets[order[e]!]!;
    pos[e] = hash32(t.id, SEED_OFFSET) % size;
    skip[e] = (hash32(t.id, SEED_SKIP) % (size - 1)) + 1;
    w[e] = t.weight;
  }
  let filled = 0;
  for (let round = 1; filled < size; round++) {
    for (let e = 0; e < k && filled < size; e++) {
      if (round * w[e]! < claimed[e]!) continue; // a lighter target skips this round
      claimed[e] = claimed[e]! + maxW;
      let c = pos[e]!;
      while (table[c] !== -1) c = (c + skip[e]!) % size;
      table[c] = order[e]!;
      pos[e] = (c + skip[e]!) % size;
      filled++;
    }
  }
  return table;
}

export function hash(targets: readonly StrategyTarget[], options: StrategyOptionsInput = {}): Strategy {
  const n = targets.length;
  const size = options.hashTableSize ?? strategyDefaults.hashTableSize;
  const factor = options.hashBalanceFactor;
  const table = buildMaglevTable(targets, size);
  const sampler = new WeightedSampler(targets.map((t) => t.weight));
  const weight = sampler.weight;

  const eligible = (ctx: PickContext, i: number): boolean =>
    weight[i]! > 0 &&
    !ctx.tried(i) &&
    ctx.available(i) &&
    (ctx.weightFactor === undefined || ctx.weightFactor(i) > 0);

  const pickUnbounded = (ctx: PickContext, h: number): number => {
    for (let j = 0; j < MAX_PROBES; j++) {
      const t = table[probe(h, j) % size]!;
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

  const pickBounded = (ctx: PickContext, h: number, c: number): number => {
    // One pass for the aggregates: in-flight total and weight of the eligible set.
    let total = 0;
    let sumW = 0;
    for (let i = 0; i < n; i++) {
      if (!eligible(ctx, i)) continue;
      total += ctx.inflight(i);
      sumW += ctx.weightFactor === undefined ? weight[i]! : weight[i]! * ctx.weightFactor(i);
    }
    if (sumW <= 0) return -1;
    const scale = (c * (total + 1)) / sumW;
    for (let j = 0; j < MAX_PROBES; j++) {
      const t = table[probe(h, j) % size]!;
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
