/**
 * Ketama consistent-hash ring, the default table of the `hash` strategy
 * (nginx `hash $key consistent`, HAProxy `hash-type consistent`, libketama).
 *
 * Every target with weight w > 0 owns POINTS_PER_WEIGHT x w points on a 32-bit
 * ring. nginx uses 160 per unit of weight; Fulcrum uses 2048 because a
 * target's share varies by about 1/sqrt(points) (one standard deviation):
 * 8 % at 160, which let removing an unusually large target move 1.27/N of
 * the keys; 2.2 % at 2048, measured worst 1.084/N at N = 100
 * (test/bench/strategies-hash-disruption.ts). Point j of target t sits at
 * mix32(hash32(t.id) + j x golden ratio): it depends only on the target's own
 * id, so adding or removing a target adds or removes exactly its points and
 * no other point moves. A key belongs to the first point >= hash(key),
 * wrapping around; removing a target therefore remaps exactly the keys it
 * owned (about 1/N of them) and re-adding it restores them.
 *
 * Points that hash alike are ordered by target id, so the ring depends only on
 * the set of (id, weight), never on config order. Very large groups are capped
 * at MAX_POINTS points by lowering the points per unit of weight for all
 * targets alike (documented trade-off: a ring of 10,000 targets of weight 3 is
 * 4.8M points otherwise; the cap keeps the two arrays at 32 MB).
 *
 * Lookup: binary search over a Uint32Array of sorted points, owner from a
 * parallel Int32Array. A bucket index on the top bits of the hash (about one
 * bucket per point) narrows the search to a few neighbouring points first, so
 * a 3M-point ring costs a couple of cache misses per lookup instead of ~20. Candidates after the owner are the following points
 * clockwise, which is where nginx and HAProxy send a key whose owner is down,
 * and where HAProxy's bounded loads send it when the owner is full.
 */
import type { StrategyTarget } from "./types.ts";
import type { ConsistentTable } from "./consistent_table.ts";
import { hash32, idRanks, mix32 } from "./hash_functions.ts";

/** nginx `ngx_http_upstream_hash` consistent mode uses 160; see the header for why 2048. */
export const POINTS_PER_WEIGHT = 2048;
/** Ring size cap (points); beyond it every target gets fewer points per unit of weight. */
export const MAX_POINTS = 1 << 22;
const SEED_RING = 0x3c6ef372;
/** Walking past this many points falls back to a linear scan (only when nearly every target is ineligible). */
const MAX_WALK = 1024;

export interface KetamaRing {
  /** Point positions, ascending. */
  readonly points: Uint32Array;
  /** owners[k] = target index owning points[k]. */
  readonly owners: Int32Array;
}

export function buildKetamaRing(targets: readonly StrategyTarget[]): KetamaRing {
  const n = targets.length;
  if (n >= 1 << 21) throw new RangeError(`${n} targets: the ring supports fewer than 2^21`);
  let totalWeight = 0;
  for (const t of targets) if (t.weight > 0) totalWeight += t.weight;
  const perWeight = Math.max(1, Math.min(POINTS_PER_WEIGHT, Math.floor(MAX_POINTS / Math.max(1, totalWeight))));
  const rank = idRanks(targets.map((t) => t.id));
  const byRank = new Int32Array(n);
  for (let i = 0; i < n; i++) byRank[rank[i]!] = i;

  // Pack (point, id rank) into one exactly representable double: point x 2^21 + rank,
  // so one numeric typed-array sort orders by point, then by id.
  const packed = new Float64Array(totalWeight * perWeight);
  let k = 0;
  for (let i = 0; i < n; i++) {
    const w = targets[i]!.weight;
    if (!(w > 0)) continue;
    const base = hash32(targets[i]!.id, SEED_RING);
    const r = rank[i]!;
    for (let j = 0, m = w * perWeight; j < m; j++) {
      packed[k++] = mix32((base + Math.imul(j, 0x9e3779b9)) >>> 0) * 2097152 + r;
    }
  }
  packed.sort();
  const points = new Uint32Array(k);
  const owners = new Int32Array(k);
  for (let p = 0; p < k; p++) {
    const x = packed[p]!;
    const point = Math.floor(x / 2097152);
    points[p] = point;
    owners[p] = byRank[x - point * 2097152]!;
  }
  return { points, owners };
}

/** Index of the first point >= h, or 0 past the last point (the ring wraps). */
export function ringSearch(points: Uint32Array, h: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (points[mid]! < h) lo = mid + 1;
    else hi = mid;
  }
  return lo === points.length ? 0 : lo;
}

/**
 * Bucket index over the top `bits` bits of the ring: the points with prefix b
 * are points[index[b] .. index[b + 1]). `ringSearch` within the bucket then
 * gives the same answer as over the whole ring.
 */
export class RingIndex {
  readonly shift: number;
  private readonly index: Uint32Array;
  constructor(private readonly points: Uint32Array) {
    const len = points.length;
    const bits = len < 2 ? 0 : Math.min(16, Math.floor(Math.log2(len)));
    this.shift = 32 - bits;
    const buckets = 2 ** bits;
    const index = new Uint32Array(buckets + 1);
    let p = 0;
    for (let b = 0; b < buckets; b++) {
      index[b] = p;
      while (p < len && (bits === 0 ? 0 : points[p]! >>> this.shift) === b) p++;
    }
    index[buckets] = len;
    this.index = index;
  }

  /** Same result as ringSearch(points, h). */
  search(h: number): number {
    const points = this.points;
    const b = this.shift === 32 ? 0 : h >>> this.shift;
    let lo = this.index[b]!;
    let hi = this.index[b + 1]!;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return lo === points.length ? 0 : lo;
  }
}

export function ketamaTable(targets: readonly StrategyTarget[]): ConsistentTable {
  const { points, owners } = buildKetamaRing(targets);
  const len = points.length;
  const index = new RingIndex(points);
  return {
    maxWalk: Math.min(MAX_WALK, len),
    start: (h) => index.search(h),
    candidate: (s, j) => {
      if (len === 0) return -1;
      const p = s + j;
      return owners[p < len ? p : p % len]!;
    },
  };
}
