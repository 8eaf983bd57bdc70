/**
 * Weighted random draws among eligible targets in O(1) expected time, shared
 * by `random`, `least_request`, `latency_aware` and keyless `hash`.
 *
 * Construction builds a Walker/Vose alias table over the configured weights,
 * so one uniform picks a target in proportion to its weight. Eligibility
 * (tried / available) and the slow-start factor are applied by rejection:
 * a drawn target is kept only if eligible, and with probability equal to its
 * slow-start factor. Rejection sampling is exact: an accepted draw is target i
 * with probability proportional to weight_i x factor_i over the eligible set.
 * After MAX_TRIES rejections (most of the group down, or all drawn targets
 * excluded) it falls back to an exact two-pass weighted scan, which samples
 * from the same distribution, so the overall law is unchanged.
 */
import type { PickContext } from "./types.ts";

const MAX_TRIES = 24;

export class WeightedSampler {
  readonly n: number;
  /** Configured weights (>= 0). */
  readonly weight: Float64Array;
  /** Sum of configured weights. */
  readonly total: number;
  private readonly prob: Float64Array;
  private readonly alias: Int32Array;

  constructor(weights: ArrayLike<number>) {
    const n = weights.length;
    this.n = n;
    this.weight = new Float64Array(n);
    let total = 0;
    for (let i = 0; i < n; i++) {
      const w = weights[i]! > 0 ? weights[i]! : 0;
      this.weight[i] = w;
      total += w;
    }
    this.total = total;
    this.prob = new Float64Array(n);
    this.alias = new Int32Array(n);
    if (total > 0) this.buildAlias();
  }

  /** Vose's alias method: column i keeps itself with prob[i], else yields alias[i]. */
  private buildAlias(): void {
    const n = this.n;
    const scaled = new Float64Array(n);
    const small = new Int32Array(n);
    const large = new Int32Array(n);
    let ns = 0;
    let nl = 0;
    for (let i = 0; i < n; i++) {
      scaled[i] = (this.weight[i]! * n) / this.total;
      if (scaled[i]! < 1) small[ns++] = i;
      else large[nl++] = i;
    }
    while (ns > 0 && nl > 0) {
      const s = small[--ns]!;
      const l = large[nl - 1]!;
      this.prob[s] = scaled[s]!;
      this.alias[s] = l;
      scaled[l] = scaled[l]! + scaled[s]! - 1;
      if (scaled[l]! < 1) {
        nl--;
        small[ns++] = l;
      }
    }
    // Leftovers are 1 up to rounding error. A zero-weight column must never
    // keep itself, so it points at a positive-weight one.
    while (nl > 0) this.prob[large[--nl]!] = 1;
    while (ns > 0) {
      const s = small[--ns]!;
      this.prob[s] = this.weight[s]! > 0 ? 1 : 0;
      if (this.weight[s] === 0) this.alias[s] = this.firstPositive();
    }
  }

  private firstPositive(): number {
    for (let i = 0; i < this.n; i++) if (this.weight[i]! > 0) return i;
    return 0;
  }

  /** Index drawn in proportion to configured weight from one uniform u in [0, 1). */
  draw(u: number): number {
    const x = u * this.n;
    const col = Math.floor(x);
    return x - col < this.prob[col]! ? col : this.alias[col]!;
  }

  /**
   * A random eligible target, in proportion to weight x slow-start factor, that
   * is not among `excluded[0 .. excludedCount)`. -1 when there is none.
   */
  pick(ctx: PickContext, excluded?: Int32Array, excludedCount = 0): number {
    if (this.total <= 0) return -1;
    const wf = ctx.weightFactor;
    outer: for (let t = 0; t < MAX_TRIES; t++) {
      const i = this.draw(ctx.random());
      for (let k = 0; k < excludedCount; k++) if (excluded![k] === i) continue outer;
      if (this.weight[i]! <= 0 || ctx.tried(i) || !ctx.available(i)) continue;
      if (wf !== undefined) {
        const f = wf.call(ctx, i);
        if (!(f > 0)) continue;
        if (f < 1 && ctx.random() >= f) continue;
      }
      return i;
    }
    return this.scan(ctx, excluded, excludedCount);
  }

  /** Exact weighted draw by scanning: sum the eligible weights, then walk. O(n). */
  private scan(ctx: PickContext, excluded: Int32Array | undefined, excludedCount: number): number {
    const n = this.n;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += this.eligibleWeight(ctx, i, excluded, excludedCount);
    if (!(sum > 0)) return -1;
    let r = ctx.random() * sum;
    let last = -1;
    for (let i = 0; i < n; i++) {
      const w = this.eligibleWeight(ctx, i, excluded, excludedCount);
      if (w <= 0) continue;
      last = i;
      if (r < w) return i;
      r -= w;
    }
    return last; // floating-point remainder
  }

  private eligibleWeight(ctx: PickContext, i: number, excluded: Int32Array | undefined, count: number): number {
    const w = this.weight[i]!;
    if (w <= 0 || ctx.tried(i) || !ctx.available(i)) return 0;
    for (let k = 0; k < count; k++) if (excluded![k] === i) return 0;
    const f = ctx.weightFactor === undefined ? 1 : ctx.weightFactor(i);
    return f > 0 ? w * f : 0;
  }
}
