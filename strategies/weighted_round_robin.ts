/**
 * `weighted_round_robin`: nginx's smooth weighted round robin, step for step
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
 * Complexity: one pass over all targets per pick, inherently (every eligible
 * peer's `current` moves on every selection). That is what nginx does too; it
 * is cheap for tens of targets and linear for thousands (see the pick bench).
 */
import type { AttemptOutcome, PickContext, Strategy, StrategyTarget } from "./types.ts";
import { strategyDefaults, type StrategyOptionsInput } from "./options.ts";

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
  /** nginx `current_weight`. */
  readonly current: Float64Array;
  private readonly maxFails: number;
  private best = -1;
  private total = 0;

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

  /** Start a selection round. */
  begin(): void {
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
    if (eff[i]! < this.weight[i]!) eff[i] = eff[i]! + 1;
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
    const e = this.effective[i]! - Math.floor(this.weight[i]! / this.maxFails);
    this.effective[i] = e < 0 ? 0 : e;
  }

  /** One full nginx selection over the eligible targets of `ctx`. */
  pick(ctx: PickContext): number {
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
