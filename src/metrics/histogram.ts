/**
 * A Prometheus classic histogram of latencies: cumulative counts per fixed
 * upper bound, since this process (on Workers: this isolate) started.
 *
 * The sketches (latency-sketch.ts) give this instance's quantiles to 1 %,
 * but quantiles cannot be added up; bucket counts can, so
 * `histogram_quantile(0.99, sum by (le) (rate(…_bucket[5m])))` gives a p99
 * across instances, Workers isolates and worker processes. Native
 * histograms would make the buckets exact too, but they exist only in the
 * protobuf exposition, not in the text format 0.0.4 this endpoint serves.
 *
 * The bounds are fixed, so every series of every instance aggregates with
 * every other: Prometheus' default layout, widened at both ends for a
 * balancer (loopback answers in ~1 ms; a slow upstream is cut at 30–60 s).
 */

/** Upper bounds, seconds (`le`), ascending; `+Inf` is implicit. */
export const LATENCY_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const BOUNDS_MS = Float64Array.from(LATENCY_BUCKETS, (s) => s * 1000);

export class LatencyHistogram {
  /** Observations per bucket (not cumulative): `counts[i]` falls in (bound[i-1], bound[i]]; the last slot is +Inf. */
  readonly counts = new Float64Array(BOUNDS_MS.length + 1);
  /** Sum of the observations, ms. */
  sum = 0;

  /** @param ms latency in milliseconds */
  record(ms: number): void {
    // Most requests land in the first few buckets, so a linear scan beats a binary search.
    this.sum += ms;
    let i = 0;
    while (i < BOUNDS_MS.length && ms > BOUNDS_MS[i]!) i++;
    this.counts[i]!++;
  }
}

/** Cumulative counts per `le` of several histograms added together (the last one is +Inf, the total). */
export function cumulative(histograms: readonly LatencyHistogram[]): number[] {
  const out = new Array<number>(BOUNDS_MS.length + 1).fill(0);
  for (const h of histograms) for (let i = 0; i < out.length; i++) out[i]! += h.counts[i]!;
  for (let i = 1; i < out.length; i++) out[i]! += out[i - 1]!;
  return out;
}
