/**
 * `least_connections`: nginx `least_conn` (ngx_http_upstream_least_conn_module.c).
 *
 * Pass 1 finds the eligible peer with the lowest conns/weight, comparing by
 * cross-multiplication as nginx does (`a.conns * b.weight < b.conns * a.weight`,
 * no division, so 0/w ties are exact) and notes whether several peers tie.
 * Pass 2, only when there is a tie, runs the smooth WRR step over the tied
 * peers alone, starting from the first of them; the effective weights and
 * current weights are the same state nginx's round robin keeps, so failure
 * reports lower a peer's share of the ties exactly as in nginx.
 *
 * The weight used is the configured weight times the slow-start factor, so a
 * warming target counts as "fuller" than its in-flight count alone says.
 *
 * Complexity: O(k log n) per pick (k distinct weights, up to 32) when
 * everything is eligible and the owner notifies in-flight changes
 * (least_conn_buckets.ts); otherwise O(n) per pick, like nginx. "Connections" here are the balancer's
 * in-flight requests and WebSockets (`ctx.inflight`). An exact minimum in
 * less than O(n) would need to see every in-flight decrement, which the pick
 * interface does not carry (`report` comes at response headers, while a
 * request or WebSocket stays in flight until its body or stream ends). What
 * the context can offer is bulk access: with `allEligible()` true and
 * `inflightArray()` given, both passes read one array with the static
 * weights and no call per target (and plain `<` when all weights are equal).
 */
import type { AttemptOutcome, PickContext, Strategy, StrategyTarget } from "./types.ts";
import { strategyDefaults, type StrategyOptionsInput } from "./options.ts";
import { SmoothWeights } from "./weighted_round_robin.ts";
import { LeastConnBuckets } from "./least_conn_buckets.ts";

export function leastConnections(
  targets: readonly StrategyTarget[],
  options: StrategyOptionsInput = {},
): Strategy {
  const n = targets.length;
  const swrr = new SmoothWeights(targets, options.maxFails ?? strategyDefaults.maxFails);
  const weight = swrr.weight;
  let positive = 0;
  for (let i = 0; i < n; i++) if (weight[i]! > 0) positive++;
  const members = new Int32Array(positive); // targets with weight > 0
  for (let i = 0, m = 0; i < n; i++) if (weight[i]! > 0) members[m++] = i;
  const uniform = positive > 0 && members.every((i) => weight[i] === weight[members[0]!]);
  // The exact pick in O(k log n) from in-flight buckets per weight class (least_conn_buckets.ts).
  const buckets = LeastConnBuckets.for(members, n, weight);

  /** Both passes over a bulk in-flight array, every target of weight > 0 eligible, no slow start. */
  const pickBulk = (load: ArrayLike<number>): number => {
    const m = members.length;
    if (m === 0) return -1;
    let best = members[0]!;
    let bestConns = load[best]!;
    let bestW = weight[best]!;
    let many = false;
    if (uniform) {
      for (let k = 1; k < m; k++) {
        const c = load[members[k]!]!;
        if (c < bestConns) {
          best = members[k]!;
          bestConns = c;
          many = false;
        } else if (c === bestConns) many = true;
      }
    } else {
      for (let k = 1; k < m; k++) {
        const i = members[k]!;
        const c = load[i]!;
        const w = weight[i]!;
        if (c * bestW < bestConns * w) {
          best = i;
          bestConns = c;
          bestW = w;
          many = false;
        } else if (c * bestW === bestConns * w) many = true;
      }
    }
    if (!many) return best;
    swrr.begin();
    for (let i = best; i < n; i++) {
      const w = weight[i]!;
      if (w > 0 && load[i]! * bestW === bestConns * w) swrr.offer(i, 1);
    }
    return swrr.finish();
  };

  return {
    pick(ctx: PickContext): number {
      if (ctx.inflightArray !== undefined && ctx.allEligible !== undefined && ctx.allEligible()) {
        if (buckets && ctx.notifiesInflight && !swrr.hasReduced) {
          if (!buckets.valid) {
            swrr.sync();
            buckets.rebuild(swrr.current, ctx.inflightArray());
          }
          return buckets.pick();
        }
        buckets?.materialize(swrr.current);
        return pickBulk(ctx.inflightArray());
      }
      buckets?.materialize(swrr.current);
      const wf = ctx.weightFactor;
      let best = -1;
      let bestConns = 0;
      let bestW = 0;
      let many = false;
      for (let i = 0; i < n; i++) {
        if (weight[i]! <= 0 || ctx.tried(i) || !ctx.available(i)) continue;
        const w = wf === undefined ? weight[i]! : weight[i]! * wf.call(ctx, i);
        if (!(w > 0)) continue;
        const c = ctx.inflight(i);
        if (best < 0 || c * bestW < bestConns * w) {
          best = i;
          bestConns = c;
          bestW = w;
          many = false;
        } else if (c * bestW === bestConns * w) {
          many = true;
        }
      }
      if (!many) return best; // nginx: best.current -= 0, a no-op

      // Tie-break among the peers whose conns/weight equals the best's, from the first one on.
      swrr.begin();
      for (let i = best; i < n; i++) {
        if (weight[i]! <= 0 || ctx.tried(i) || !ctx.available(i)) continue;
        const f = wf === undefined ? 1 : wf.call(ctx, i);
        const w = weight[i]! * f;
        if (!(w > 0)) continue;
        if (ctx.inflight(i) * bestW !== bestConns * w) continue;
        swrr.offer(i, f);
      }
      return swrr.finish();
    },
    report(i: number, outcome: AttemptOutcome) {
      if (!outcome.ok) swrr.fail(i);
    },
    inflightChanged(i: number, count: number) {
      buckets?.moved(i, count);
    },
  };
}
