/**
 * The 32-bit hash functions shared by the consistent-hashing tables (ketama
 * ring, Maglev) and the `hash` strategy's key hashing. Fast and well mixed,
 * not cryptographic: keys are chosen by clients, but the worst a client can do
 * by aiming keys is pile its own requests onto one target, which bounded
 * loads (`hashBalanceFactor`) exist to cap.
 */

/** murmur3's 32-bit finalizer: a bijection on uint32 with full avalanche. */
export function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** FNV-1a over UTF-16 code units, seeded, then mix32. */
export function hash32(s: string, seed = 0): number {
  let h = (0x811c9dc5 ^ seed) | 0;
  for (let k = 0; k < s.length; k++) {
    h ^= s.charCodeAt(k);
    h = Math.imul(h, 0x01000193);
  }
  return mix32(h);
}

/** Sort order of target ids, so that tables depend on the set of ids, not on config order. */
export function idRanks(ids: readonly string[]): Int32Array {
  const order = ids.map((_, i) => i);
  order.sort((a, b) => {
    const ia = ids[a]!;
    const ib = ids[b]!;
    return ia < ib ? -1 : ia > ib ? 1 : a - b;
  });
  const rank = new Int32Array(ids.length);
  order.forEach((i, r) => (rank[i] = r));
  return rank;
}
