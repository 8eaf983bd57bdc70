/**
 * The exact nginx `least_conn` pick in O(k log n) (k = distinct weights, at
 * most 32) for the common case: every target eligible, no effective weight
 * lowered by failures.
 *
 * nginx takes the targets with the lowest conns/weight and, when several tie,
 * runs smooth WRR over them alone: each gets `current += weight`, the highest
 * `current` wins (ties to the lowest index) and pays the round's total; a
 * single lowest target touches no weight.
 *
 * Here targets are grouped by weight class, and within a class bucketed by
 * in-flight count; every bucket is a max-heap on `current` (lowest index first
 * on ties) with a shared lazy offset, so "every tied target of this class
 * gains w" is one addition. A pick compares each class's lowest bucket by
 * cross-multiplication (nginx's `conns * weight` test), adds to the tied
 * buckets' offsets, and takes the best of their tops: O(k) + O(log n).
 *
 * In-flight changes arrive through `moved(i, count)` (the balancer notifies
 * every begin and end); a target changes bucket with its exact current weight
 * carried over. Whenever the caller has to take nginx's O(n) path (a retry, an
 * unavailable target, slow start, a failure), `materialize` writes the exact
 * current weights back and the buckets are rebuilt lazily afterwards.
 */
export const MAX_WEIGHT_CLASSES = 32;

interface WeightClass {
  readonly weight: number;
  heaps: number[][];
  offsets: number[];
  min: number;
  size: number;
}

export class LeastConnBuckets {
  /** current weight = stored + offset of the target's bucket. */
  private readonly stored: Float64Array;
  private readonly count: Int32Array;
  private readonly classOf: Int32Array;
  private readonly pos: Int32Array;
  private readonly classes: WeightClass[];
  /** Scratch for the tied classes of one pick. */
  private readonly tied: Int32Array;
  /** False until rebuilt, and after `materialize`. */
  valid = false;

  /** Undefined when the weights have too many distinct values for this path. */
  static for(members: Int32Array, size: number, weight: ArrayLike<number>): LeastConnBuckets | undefined {
    const distinct = [...new Set(Array.from(members, (i) => weight[i]!))];
    if (distinct.length === 0 || distinct.length > MAX_WEIGHT_CLASSES) return undefined;
    return new LeastConnBuckets(members, size, weight, distinct);
  }

  private constructor(
    private readonly members: Int32Array,
    size: number,
    weight: ArrayLike<number>,
    distinct: number[],
  ) {
    this.stored = new Float64Array(size);
    this.count = new Int32Array(size);
    this.classOf = new Int32Array(size).fill(-1);
    this.pos = new Int32Array(size);
    this.classes = distinct.map((w) => ({ weight: w, heaps: [], offsets: [], min: 0, size: 0 }));
    const index = new Map(distinct.map((w, c) => [w, c]));
    for (const i of members) this.classOf[i] = index.get(weight[i]!)!;
    this.tied = new Int32Array(distinct.length);
  }

  rebuild(current: Float64Array, load: ArrayLike<number>): void {
    for (const k of this.classes) {
      k.heaps = [];
      k.offsets = [];
      k.min = Infinity;
      k.size = 0;
    }
    for (const i of this.members) {
      const k = this.classes[this.classOf[i]!]!;
      const c = load[i]!;
      this.stored[i] = current[i]!;
      this.count[i] = c;
      const heap = (k.heaps[c] ??= []);
      k.offsets[c] ??= 0;
      this.pos[i] = heap.length;
      heap.push(i);
      k.size++;
      if (c < k.min) k.min = c;
    }
    for (const k of this.classes) for (const heap of k.heaps) if (heap) { for (let j = (heap.length >> 1) - 1; j >= 0; j--) this.down(heap, j); }
    this.valid = this.members.length > 0;
  }

  /** Write the exact current weights back and stop tracking. */
  materialize(current: Float64Array): void {
    if (!this.valid) return;
    for (const i of this.members) current[i] = this.stored[i]! + this.classes[this.classOf[i]!]!.offsets[this.count[i]!]!;
    this.valid = false;
  }

  /** Target i now has `count` requests in flight. */
  moved(i: number, count: number): void {
    if (!this.valid) return;
    const c = this.classOf[i]!;
    const from = this.count[i]!;
    if (c < 0 || from === count) return;
    const k = this.classes[c]!;
    const actual = this.stored[i]! + k.offsets[from]!;
    this.remove(k.heaps[from]!, this.pos[i]!);
    const heap = (k.heaps[count] ??= []);
    k.offsets[count] ??= 0;
    this.stored[i] = actual - k.offsets[count]!;
    this.count[i] = count;
    this.pos[i] = heap.length;
    heap.push(i);
    this.up(heap, heap.length - 1);
    if (count < k.min) k.min = count;
  }

  pick(): number {
    // The lowest conns/weight over the classes' lowest buckets (cross-multiplied, as nginx).
    let ties = 0;
    let refCount = 0;
    let refWeight = 0;
    for (let c = 0; c < this.classes.length; c++) {
      const k = this.classes[c]!;
      if (k.size === 0) continue;
      while (!k.heaps[k.min]?.length) k.min++;
      const lhs = k.min * refWeight;
      const rhs = refCount * k.weight;
      if (ties === 0 || lhs < rhs) {
        ties = 0;
        this.tied[ties++] = c;
        refCount = k.min;
        refWeight = k.weight;
      } else if (lhs === rhs) this.tied[ties++] = c;
    }
    if (ties === 0) return -1;
    let tiedTargets = 0;
    let total = 0;
    for (let t = 0; t < ties; t++) {
      const k = this.classes[this.tied[t]!]!;
      const n = k.heaps[k.min]!.length;
      tiedTargets += n;
      total += n * k.weight;
    }
    if (tiedTargets === 1) return this.classes[this.tied[0]!]!.heaps[this.classes[this.tied[0]!]!.min]![0]!;
    // Every tied target: current += weight; the highest wins and pays the round's total.
    let best = -1;
    let bestCurrent = 0;
    let bestClass = 0;
    for (let t = 0; t < ties; t++) {
      const k = this.classes[this.tied[t]!]!;
      k.offsets[k.min]! += k.weight;
      const top = k.heaps[k.min]![0]!;
      const current = this.stored[top]! + k.offsets[k.min]!;
      if (best < 0 || current > bestCurrent || (current === bestCurrent && top < best)) {
        best = top;
        bestCurrent = current;
        bestClass = this.tied[t]!;
      }
    }
    const k = this.classes[bestClass]!;
    this.stored[best]! -= total;
    this.down(k.heaps[k.min]!, 0);
    return best;
  }

  /** Higher current first; equal currents: lower index first (nginx's strict `>` scan). */
  private before(a: number, b: number): boolean {
    const sa = this.stored[a]!;
    const sb = this.stored[b]!;
    return sa > sb || (sa === sb && a < b);
  }

  private place(heap: number[], j: number, i: number): void {
    heap[j] = i;
    this.pos[i] = j;
  }

  private up(heap: number[], j: number): void {
    const i = heap[j]!;
    while (j > 0) {
      const p = (j - 1) >> 1;
      if (!this.before(i, heap[p]!)) break;
      this.place(heap, j, heap[p]!);
      j = p;
    }
    this.place(heap, j, i);
  }

  private down(heap: number[], j: number): void {
    const i = heap[j]!;
    const n = heap.length;
    for (;;) {
      let c = 2 * j + 1;
      if (c >= n) break;
      if (c + 1 < n && this.before(heap[c + 1]!, heap[c]!)) c++;
      if (!this.before(heap[c]!, i)) break;
      this.place(heap, j, heap[c]!);
      j = c;
    }
    this.place(heap, j, i);
  }

  private remove(heap: number[], j: number): void {
    const last = heap.pop()!;
    if (j === heap.length) return;
    this.place(heap, j, last);
    this.up(heap, j);
    this.down(heap, this.pos[last]!);
  }
}
