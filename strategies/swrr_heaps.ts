/**
 * nginx's smooth weighted round robin in O(k + log n) per pick instead of
 * O(n), for the steady state: every target eligible, no effective weight
 * reduced by failures, no slow start (k = number of distinct weights).
 *
 * In that state one nginx round is: every current_i += w_i; the largest
 * current wins (the lowest index on ties); the winner pays W = sum w_i.
 * Instead of adding w_i to every target, keep current_i = base_i + t x w_i
 * with one shared step counter t. Within a class of equal weights the order
 * of the currents is the order of the bases and does not change as t grows,
 * so each class keeps a max-heap on (base desc, index asc); the round's
 * winner is the best of the k class tops, and only the winner's base changes
 * (base -= W), one sift-down. The arithmetic is on integers below 2^53, so
 * the sequence is nginx's, exactly, from whatever state the round robin was
 * in; `leave` writes current_i back so the O(n) step continues seamlessly.
 *
 * Why not a precomputed period: the sequence is periodic with period W only
 * from states on the zero cycle (e.g. the initial all-zero state). After a
 * retry, an outage or a failure report the currents are elsewhere, and the
 * next W picks are not the cached ones. The heaps are exact from any state.
 */

/** Classes beyond this make the per-pick scan of class tops no cheaper than it is worth. */
export const MAX_WEIGHT_CLASSES = 32;
/** Fold t back into the bases before t x w could leave the exact integer range. */
const MAX_STEPS = 2 ** 31;

export class SwrrHeaps {
  /** False when the fast path cannot be exact or cheap: too many distinct weights, or non-integer weights. */
  readonly usable: boolean;
  private readonly classes: number;
  private readonly classWeight: Float64Array;
  private readonly start: Int32Array; // class c's heap is heap[start[c] .. start[c + 1])
  private readonly heap: Int32Array; // target indices
  private readonly slot: Int32Array; // target i's position in `heap`
  private readonly classOf: Int32Array;
  private readonly total: number;
  private readonly members: Int32Array; // targets with weight > 0
  private t = 0;

  constructor(private readonly weight: Float64Array) {
    const n = weight.length;
    const distinct = [...new Set(Array.from(weight).filter((w) => w > 0))].sort((a, b) => a - b);
    this.usable = distinct.length <= MAX_WEIGHT_CLASSES && distinct.every(Number.isInteger);
    this.classes = this.usable ? distinct.length : 0;
    this.classWeight = Float64Array.from(distinct);
    this.classOf = new Int32Array(n).fill(-1);
    this.slot = new Int32Array(n).fill(-1);
    const counts = new Int32Array(distinct.length + 1);
    const index = new Map(distinct.map((w, c) => [w, c]));
    let total = 0;
    const members: number[] = [];
    for (let i = 0; i < n; i++) {
      if (!(weight[i]! > 0)) continue;
      const c = index.get(weight[i]!)!;
      this.classOf[i] = c;
      counts[c + 1]!++;
      total += weight[i]!;
      members.push(i);
    }
    this.total = total;
    this.members = Int32Array.from(members);
    this.start = new Int32Array(distinct.length + 1);
    for (let c = 0; c < distinct.length; c++) this.start[c + 1] = this.start[c]! + counts[c + 1]!;
    this.heap = new Int32Array(members.length);
  }

  /** `a` ranks above `b`: larger base, then lower index (nginx's strict `>` in index order). */
  private above(base: Float64Array, a: number, b: number): boolean {
    const x = base[a]!;
    const y = base[b]!;
    return x > y || (x === y && a < b);
  }

  private siftDown(base: Float64Array, c: number, pos: number): void {
    const heap = this.heap;
    const lo = this.start[c]!;
    const size = this.start[c + 1]! - lo;
    const item = heap[lo + pos]!;
    for (;;) {
      let child = 2 * pos + 1;
      if (child >= size) break;
      if (child + 1 < size && this.above(base, heap[lo + child + 1]!, heap[lo + child]!)) child++;
      const other = heap[lo + child]!;
      if (!this.above(base, other, item)) break;
      heap[lo + pos] = other;
      this.slot[other] = lo + pos;
      pos = child;
    }
    heap[lo + pos] = item;
    this.slot[item] = lo + pos;
  }

  /** Take over `current` (which now holds the bases, t = 0) and heapify every class: O(n). */
  enter(current: Float64Array): void {
    this.t = 0;
    const fill = Int32Array.from(this.start.subarray(0, this.classes));
    for (const i of this.members) {
      const p = fill[this.classOf[i]!]!++;
      this.heap[p] = i;
      this.slot[i] = p;
    }
    for (let c = 0; c < this.classes; c++) {
      const size = this.start[c + 1]! - this.start[c]!;
      for (let pos = (size >> 1) - 1; pos >= 0; pos--) this.siftDown(current, c, pos);
    }
  }

  /** Write current_i = base_i + t x w_i back for every target: O(n). */
  leave(current: Float64Array): void {
    const t = this.t;
    if (t !== 0) { for (const i of this.members) current[i] = current[i]! + t * this.weight[i]!; }
    this.t = 0;
  }

  /** One nginx round over all targets of weight > 0; returns the winner (-1 if none). */
  step(current: Float64Array): number {
    if (this.t >= MAX_STEPS) {
      this.leave(current);
      this.enter(current);
    }
    const t = ++this.t;
    let best = -1;
    let bestClass = -1;
    let bestValue = 0;
    for (let c = 0; c < this.classes; c++) {
      const lo = this.start[c]!;
      if (lo === this.start[c + 1]!) continue;
      const top = this.heap[lo]!;
      const value = current[top]! + t * this.classWeight[c]!;
      if (best < 0 || value > bestValue || (value === bestValue && top < best)) {
        best = top;
        bestClass = c;
        bestValue = value;
      }
    }
    if (best < 0) return -1;
    current[best] = current[best]! - this.total;
    this.siftDown(current, bestClass, 0);
    return best;
  }
}
