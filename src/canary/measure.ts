/**
 * What a canary step is judged on, as each instance measures it: the
 * requests of a side (the canary group, or the stable groups together), the
 * 5xx among them, and their time to response headers in a DDSketch (1 %
 * relative accuracy, as the metrics' latency sketches). Instances publish
 * their tallies as plain data; the decider adds them up bin by bin, which is
 * exact, so the p99 it judges is the p99 of every instance's requests, not
 * an average of each one's.
 */
import { LogCollapsingLowestDenseDDSketch } from "@datadog/sketches-js";

const newSketch = () => new LogCollapsingLowestDenseDDSketch({ relativeAccuracy: 0.01, binLimit: 1024 });

/** A tally as published: `bins` holds key, count pairs. */
export interface TallyData {
  readonly requests: number;
  readonly errors: number;
  readonly zero: number;
  readonly bins: readonly number[];
}

/** One side's numbers over a step, for the verdict and for people. */
export interface Side {
  readonly requests: number;
  readonly errors: number;
  /** 5xx in % of the requests; 0 without requests. */
  readonly errorRate: number;
  /** ms; undefined without requests. */
  readonly p99: number | undefined;
}

export class Tally {
  requests = 0;
  errors = 0;
  private readonly sketch = newSketch();

  record(status: number, ms: number): void {
    this.requests++;
    if (status >= 500) this.errors++;
    this.sketch.accept(ms > 0 ? ms : 0);
  }

  data(): TallyData {
    const bins: number[] = [];
    const store = this.sketch.store;
    store.bins.forEach((count, index) => {
      if (count > 0) bins.push(index + store.offset, count);
    });
    return { requests: this.requests, errors: this.errors, zero: this.sketch.zeroCount, bins };
  }
}

/** Tallies published by any version or instance: the well-formed ones. */
export function isTallyData(x: unknown): x is TallyData {
  const t = x as Partial<TallyData> | null;
  return typeof t?.requests === "number" && typeof t.errors === "number" && typeof t.zero === "number" && Array.isArray(t.bins);
}

/** Several instances' tallies of one side, added up. */
export function sideOf(tallies: readonly TallyData[]): Side {
  const sketch = newSketch();
  let requests = 0;
  let errors = 0;
  for (const t of tallies) {
    requests += t.requests;
    errors += t.errors;
    for (let i = 0; i + 1 < t.bins.length; i += 2) sketch.store.add(t.bins[i]!, t.bins[i + 1]!);
    sketch.zeroCount += t.zero;
    sketch.count += t.zero;
    for (let i = 1; i < t.bins.length; i += 2) sketch.count += t.bins[i]!;
  }
  return {
    requests,
    errors,
    errorRate: requests === 0 ? 0 : (errors * 100) / requests,
    p99: sketch.count === 0 ? undefined : sketch.getValueAtQuantile(0.99),
  };
}
