/**
 * Latency quantiles over a sliding window, from DDSketches (relative accuracy
 * 1 %: a reported p99 of 200 ms means the true p99 is within 198–202 ms).
 *
 * The window is a ring of `buckets` sketches, each covering `bucketMs`; reads
 * merge the buckets still inside the window, so an idle series ages out
 * without any timer. This is client_golang's Summary `MaxAge`/`AgeBuckets`
 * design: quantiles describe recent traffic, while `sum` and `count` are
 * cumulative (since this isolate/process started) so that Prometheus can
 * still `rate()` them.
 *
 * The hot path (`record`) is one integer compare plus one sketch insert.
 * The collapsing-lowest store bounds memory at `binLimit` bins per bucket and
 * gives up precision only at the fastest latencies, never at p95/p99.
 */
import { LogCollapsingLowestDenseDDSketch } from "@datadog/sketches-js";

export const RELATIVE_ACCURACY = 0.01;
/** 1 % accuracy covers 1 µs .. 1 h in ~1,100 bins; 1,024 keeps ≤ ~8 KiB per bucket. */
const BIN_LIMIT = 1024;

type Sketch = LogCollapsingLowestDenseDDSketch;
const newSketch = (): Sketch => new LogCollapsingLowestDenseDDSketch({ relativeAccuracy: RELATIVE_ACCURACY, binLimit: BIN_LIMIT });

export interface Window {
  /** Length of one bucket, ms. */
  readonly bucketMs: number;
  /** Number of buckets in the window (window = bucketMs × buckets). */
  readonly buckets: number;
}

export const DEFAULT_WINDOW: Window = { bucketMs: 10_000, buckets: 6 };

export interface Quantiles {
  /** Number of observations inside the window. */
  readonly count: number;
  /** ms, NaN when the window is empty. */
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
}

export class LatencySketch {
  /** Cumulative since start, ms. */
  sum = 0;
  /** Cumulative since start. */
  count = 0;
  private readonly ring: (Sketch | undefined)[];
  private readonly epochs: Float64Array;
  private current: Sketch | undefined = undefined;
  private currentEpoch = -1;

  constructor(private readonly span: Window = DEFAULT_WINDOW) {
    this.ring = new Array<Sketch | undefined>(span.buckets).fill(undefined);
    this.epochs = new Float64Array(span.buckets).fill(-1);
  }

  /**
   * @param ms observed latency in milliseconds (negative values are clamped to 0)
   * @param epoch `Math.floor(now / bucketMs)`, computed once per request by the registry
   */
  record(ms: number, epoch: number): void {
    const v = ms > 0 ? ms : 0;
    this.sum += v;
    this.count++;
    // Fast path: same bucket as the previous observation.
    if (epoch === this.currentEpoch) {
      this.current!.accept(v);
      return;
    }
    const slot = epoch % this.span.buckets;
    // The slot holds this epoch's bucket already (absorbed), or an expired one (or none yet): start it afresh.
    const sketch = this.epochs[slot] === epoch ? this.ring[slot]! : newSketch();
    this.ring[slot] = sketch;
    this.epochs[slot] = epoch;
    this.current = sketch;
    this.currentEpoch = epoch;
    sketch.accept(v);
  }

  /** The buckets still inside the window ending at `epoch`, as plain data (another process merges them with `absorb`). */
  exportWindow(epoch: number): SketchExport {
    const buckets: { epoch: number; zero: number; bins: number[] }[] = [];
    for (let i = 0; i < this.ring.length; i++) {
      const s = this.ring[i];
      const e = this.epochs[i]!;
      if (s === undefined || e > epoch || e <= epoch - this.span.buckets) continue;
      const bins: number[] = [];
      s.store.bins.forEach((count, index) => {
        if (count > 0) bins.push(index + s.store.offset, count);
      });
      buckets.push({ epoch: e, zero: s.zeroCount, bins });
    }
    return { sum: this.sum, count: this.count, buckets };
  }

  /**
   * Add another series' export (a worker process's) to this one: its cumulative sum and count,
   * and each of its buckets into the bucket of the same epoch, bin by bin, which is exact
   * (DDSketches with one mapping merge without loss).
   */
  absorb(x: SketchExport): void {
    this.sum += x.sum;
    this.count += x.count;
    for (const b of x.buckets) {
      const slot = b.epoch % this.span.buckets;
      if (this.epochs[slot] !== b.epoch) {
        if (this.epochs[slot]! > b.epoch) continue;
        this.ring[slot] = newSketch();
        this.epochs[slot] = b.epoch;
      }
      const sketch = this.ring[slot]!;
      for (let i = 0; i < b.bins.length; i += 2) sketch.store.add(b.bins[i]!, b.bins[i + 1]!);
      sketch.zeroCount += b.zero;
      sketch.count += b.zero + countOf(b.bins);
    }
    // The next `record` finds its bucket through the ring again.
    this.currentEpoch = -1;
  }

  /** Merge of the buckets still inside the window ending at `epoch`, or undefined if none. */
  windowSketch(epoch: number): Sketch | undefined {
    let merged: Sketch | undefined;
    for (let i = 0; i < this.ring.length; i++) {
      const s = this.ring[i];
      const e = this.epochs[i]!;
      if (s === undefined || e > epoch || e <= epoch - this.span.buckets) continue;
      merged ??= newSketch();
      merged.merge(s);
    }
    return merged;
  }
}

/** A series' window as plain data: `bins` holds key, count pairs of each bucket's sketch. */
export interface SketchExport {
  readonly sum: number;
  readonly count: number;
  readonly buckets: readonly { readonly epoch: number; readonly zero: number; readonly bins: readonly number[] }[];
}

function countOf(pairs: readonly number[]): number {
  let n = 0;
  for (let i = 1; i < pairs.length; i += 2) n += pairs[i]!;
  return n;
}

/** Quantiles of several series' windows merged (a group's targets, say). */
export function quantilesOf(sketches: readonly LatencySketch[], epoch: number): Quantiles {
  let merged: Sketch | undefined;
  for (const s of sketches) {
    const w = s.windowSketch(epoch);
    if (w === undefined) continue;
    if (merged === undefined) merged = w;
    else merged.merge(w);
  }
  if (merged === undefined || merged.count === 0) return { count: 0, p50: NaN, p95: NaN, p99: NaN };
  return {
    count: merged.count,
    p50: merged.getValueAtQuantile(0.5),
    p95: merged.getValueAtQuantile(0.95),
    p99: merged.getValueAtQuantile(0.99),
  };
}
