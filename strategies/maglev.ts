/**
 * Maglev lookup table (Eisenbud et al., NSDI 2016; Envoy MAGLEV, default table
 * size 65537), selectable with `hashAlgorithm: "maglev"`.
 *
 * Every target with weight > 0 gets a permutation of the M slots (offset =
 * h1(id) mod M, skip = h2(id) mod (M-1) + 1; M prime, so each permutation
 * visits every slot). Targets take turns claiming their next free slot until
 * the table is full. Weights work as in Envoy: a target of weight w takes a
 * turn in round r only while its claims stay <= r x w / max weight, so slot
 * counts are proportional to weight. The turn order is by target id (not
 * config position), so the table depends only on the set of (id, weight) and
 * re-adding a removed target rebuilds the identical table.
 *
 * Trade-off against the ketama ring (the default): shares are nearly exact
 * (within 1 slot in M) and lookup is one array read, but a rebuild is not
 * minimally disruptive. Removing one of N equal targets moves ~1.01/N (N=5),
 * ~1.05/N (N=10) and ~1.6/N (N=100) of keys at M = 65537 (measured by
 * test/bench/strategies-hash-disruption.ts), where the ring moves exactly the
 * removed target's keys.
 *
 * Candidates after the owner are successive probes table[mix(h, j) mod M],
 * so a down target's keys spread over the others in proportion to their slots.
 */
import type { StrategyTarget } from "./types.ts";
import type { ConsistentTable } from "./consistent_table.ts";
import { isPrime } from "./options.ts";
import { hash32, idRanks, mix32 } from "./hash_functions.ts";

const SEED_OFFSET = 0x5bd1e995;
const SEED_SKIP = 0x27d4eb2f;
const MAX_PROBES = 32;

/** Build the Maglev table: slot -> target index. Exported for tests and benchmarks. */
export function buildMaglevTable(targets: readonly StrategyTarget[], size: number): Int32Array {
  if (!isPrime(size)) throw new RangeError(`hashTableSize ${size}: expected a prime number`);
  const table = new Int32Array(size).fill(-1);
  const rank = idRanks(targets.map((t) => t.id));
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
  order.sort((a, b) => rank[a]! - rank[b]!);
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

export function maglevTable(targets: readonly StrategyTarget[], size: number): ConsistentTable {
  const table = buildMaglevTable(targets, size);
  return {
    maxWalk: MAX_PROBES,
    start: (h) => h,
    candidate: (h, j) => table[(j === 0 ? h : mix32((h ^ Math.imul(j, 0x9e3779b9)) >>> 0)) % size]!,
  };
}
