/**
 * `ip_hash`: nginx's ip_hash, byte for byte (ngx_http_upstream_ip_hash_module.c).
 *
 *   bytes  = IPv4: the first three octets (so a whole /24 sticks together);
 *            IPv6: all 16 bytes
 *   hash   = 89
 *   loop:  for each byte: hash = (hash * 113 + byte) % 6271
 *          w = hash % total_weight
 *          walk the peers subtracting their weights until w < weight
 *          if that peer is eligible: done
 *          else keep hashing from the current `hash` (next round);
 *          after 21 rounds (`++tries > 20`) fall back to the weighted round robin
 *
 * Departures, all documented choices:
 * - The key is `ctx.key`, the client IP as a string. IPv4-mapped IPv6 is
 *   hashed as IPv4 (see ip.ts); nginx hashes it as 16 bytes. A missing or
 *   unparseable key goes to the round robin; nginx would hash three zero bytes
 *   (its pseudo address for unix sockets), sending all such clients to one peer.
 * - Retries: nginx keeps `hash` and `tries` in the request, we recompute from
 *   89 with `tried(i)` set. The chain of peers visited is the same, so the
 *   retry lands where nginx's would; only the 20-round budget counts from the
 *   start of the chain rather than per request.
 * - The walk over weights is a binary search over prefix sums: the same peer
 *   as nginx's linear walk, in O(log n).
 * - The slow-start factor does not bend the mapping (it would move clients);
 *   it only excludes a target whose factor is 0.
 */
import type { AttemptOutcome, PickContext, Strategy, StrategyTarget } from "./types.ts";
import { strategyDefaults, type StrategyOptionsInput } from "./options.ts";
import { parseIp } from "./ip.ts";
import { SmoothWeights } from "./weighted_round_robin.ts";

/**
 * nginx's re-hash budget: `if (++iphp->tries > 20) return get_rr_peer(...)` runs
 * after each unsuitable peer, so 21 rounds are hashed before falling back.
 */
export const IP_HASH_MAX_TRIES = 20;

/** One round of nginx's ip_hash byte mixing over `len` bytes of `addr`. */
export function ipHashRound(hash: number, addr: Uint8Array, len: number): number {
  for (let k = 0; k < len; k++) hash = (hash * 113 + addr[k]!) % 6271;
  return hash;
}

export function ipHash(targets: readonly StrategyTarget[], options: StrategyOptionsInput = {}): Strategy {
  const n = targets.length;
  const swrr = new SmoothWeights(targets, options.maxFails ?? strategyDefaults.maxFails);
  // prefix[p] = weight[0] + ... + weight[p]
  const prefix = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const w = targets[i]!.weight;
    total += w > 0 ? w : 0;
    prefix[i] = total;
  }
  const addr = new Uint8Array(16); // scratch for the parsed key

  /** nginx's weight walk: the first peer p with prefix[p] > w. */
  const peerAt = (w: number): number => {
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (prefix[mid]! > w) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };

  return {
    pick(ctx: PickContext): number {
      const key = ctx.key;
      const kind = total > 0 && key !== undefined ? parseIp(key, addr) : 0;
      if (kind === 0) return swrr.pick(ctx);
      const len = kind === 4 ? 3 : 16;
      const wf = ctx.weightFactor;
      let hash = 89;
      for (let tries = 0; tries <= IP_HASH_MAX_TRIES; tries++) {
        hash = ipHashRound(hash, addr, len);
        const p = peerAt(hash % total);
        if (!ctx.tried(p) && ctx.available(p) && (wf === undefined || wf.call(ctx, p) > 0)) return p;
      }
      return swrr.pick(ctx);
    },
    report(i: number, outcome: AttemptOutcome) {
      if (!outcome.ok) swrr.fail(i);
    },
  };
}
