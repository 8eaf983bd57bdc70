/**
 * `round_robin` (alias `weighted_round_robin`): nginx's smooth weighted round
 * robin, step for step; with equal weights it is plain rotation
 * (ngx_http_upstream_round_robin.c, ngx_http_upstream_get_peer):
 *
 *   for each eligible peer:
 *     current += effective; total += effective
 *     if (effective < weight) effective++
 *     if (best == NULL || current > best.current) best = peer   // strict: ties -> earlier peer
 *   best.current -= total
 *
 * Weights {5,1,1} give `a a b a c a a`, repeating. A failure report lowers the
 * peer's effective weight by floor(weight / max_fails) (floor 0) and the line
 * `effective++` above lets it climb back one step per selection it takes part
 * in, exactly as nginx's ngx_http_upstream_free_round_robin_peer does.
 *
 * Complexity: nginx's step is one pass over all targets (every eligible
 * peer's `current` moves on every selection). In the steady state (the
 * context's `allEligible()` says no target is tried, down or slow-starting,
 * and no effective weight is reduced) the same rounds run on per-weight-class
 * heaps in O(k + log n) (swrr_heaps.ts), producing nginx's exact sequence;
 * the first O(n) step after it writes the currents back. Without the hint,
 * or with more than 32 distinct weights, every pick is the O(n) pass.
 */
import type { AttemptOutcome, PickContext, Strategy, StrategyTarget } from "./types.ts";
import { strategyDefaults, type StrategyOptionsInput } from "./options.ts";
import { SwrrHeaps } from "./swrr_heaps.ts";

/**
 * The SWRR state of a target list, with the selection round split into
 * `begin` / `offer` / `finish` so that other strategies (least_connections'
 * tie-break, ip_hash's fallback) can run nginx's step over any subset of peers
 * without allocating a closure or an array per pick.
 */
export class SmoothWeights {
  /** Configured weights. */
  readonly weight: Float64Array;
  /** nginx `effective_weight`: lowered on failure, climbs back by 1 per selection round. */
  readonly effective: Float64Array;
  /** nginx `current_weight` (while `fastPicks` are being served it holds heap bases; `sync()` first). */
  readonly current: Float64Array;
  private readonly maxFails: number;
  private best = -1;
  private total = 0;
  /** Targets whose effective weight is below their weight (the fast path needs 0). */
  private reduced = 0;
  private heaps: SwrrHeaps | undefined;
  private lazy = false;
  /** Picks served by the heap fast path (for tests and benchmarks). */
  fastPicks = 0;

  constructor(targets: readonly StrategyTarget[], maxFails: number = strategyDefaults.maxFails) {
    const n = targets.length;
    this.weight = new Float64Array(n);
    this.effective = new Float64Array(n);
    this.current = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const w = targets[i]!.weight;
      this.weight[i] = w;
      this.effective[i] = w; // nginx starts effective_weight at weight
    }
    this.maxFails = maxFails;
  }

  /** True while some effective weight is below its weight (failures not yet climbed back). */
  get hasReduced(): boolean {
    return this.reduced > 0;
  }

  /** Make `current` hold nginx's current weights again after fast-path picks. */
  sync(): void {
    if (this.lazy) {
      this.heaps!.leave(this.current);
      this.lazy = false;
    }
  }

  /** Start a selection round. */
  begin(): void {
    this.sync();
    this.best = -1;
    this.total = 0;
  }

  /**
   * Let peer i take part in the round. `factor` is the slow-start multiplier:
   * it scales the effective weight that this round adds (1 = nginx exactly).
   */
  offer(i: number, factor: number): void {
    const cur = this.current;
    const eff = this.effective;
    const add = factor === 1 ? eff[i]! : eff[i]! * factor;
    const c = cur[i]! + add;
    cur[i] = c;
    this.total += add;
    if (eff[i]! < this.weight[i]!) {
      eff[i] = eff[i]! + 1;
      if (eff[i]! >= this.weight[i]!) this.reduced--;
    }
    if (this.best < 0 || c > cur[this.best]!) this.best = i;
  }

  /** End the round: the winner pays `total`. Returns the winner or -1 if nobody took part. */
  finish(): number {
    const b = this.best;
    if (b >= 0) this.current[b] = this.current[b]! - this.total;
    return b;
  }

  /** nginx on failure: effective_weight -= weight / max_fails (integer division), floor 0. */
  fail(i: number): void {
    if (this.maxFails <= 0 || i < 0 || i >= this.weight.length) return;
    const was = this.effective[i]!;
    const e = was - Math.floor(this.weight[i]! / this.maxFails);
    this.effective[i] = e < 0 ? 0 : e;
    if (was >= this.weight[i]! && this.effective[i]! < this.weight[i]!) this.reduced++;
  }

  /** One full nginx selection over the eligible targets of `ctx`. */
  pick(ctx: PickContext): number {
    if (this.reduced === 0 && ctx.allEligible !== undefined && ctx.allEligible()) {
      const heaps = (this.heaps ??= new SwrrHeaps(this.weight));
      if (heaps.usable) {
        if (!this.lazy) {
          heaps.enter(this.current);
          this.lazy = true;
        }
        this.fastPicks++;
        return heaps.step(this.current);
      }
    }
    const weight = this.weight;
    const n = weight.length;
    const wf = ctx.weightFactor;
    this.begin();
    for (let i = 0; i < n; i++) {
      // Eligible: configured weight > 0, not tried, available, slow-start factor > 0.
      // A peer whose *effective* weight fell to 0 after failures still takes part
      // (it adds 0 and climbs back), as in nginx; excluding it is the health
      // policy's job, through `available`.
      if (weight[i]! <= 0 || ctx.tried(i) || !ctx.available(i)) continue;
      const f = wf === undefined ? 1 : wf.call(ctx, i);
      if (!(f > 0)) continue;
      this.offer(i, f);
    }
    return this.finish();
  }
}

export function weightedRoundRobin(
  targets: readonly StrategyTarget[],
  options: StrategyOptionsInput = {},
): Strategy {
  const state = new SmoothWeights(targets, options.maxFails ?? strategyDefaults.maxFails);
  return {
    pick: (ctx) => state.pick(ctx),
    report(i: number, outcome: AttemptOutcome) {
      if (!outcome.ok) state.fail(i);
    },
  };
}
