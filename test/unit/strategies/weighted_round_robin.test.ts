import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { SmoothWeights, weightedRoundRobin } from "../../../strategies/weighted_round_robin.ts";
import { makeCtx, picks, targetsOf } from "./helpers.ts";

const letters = (seq: number[]) => seq.map((i) => (i < 0 ? "-" : "abcdefgh"[i])).join("");

/**
 * nginx's published algorithm, written plainly and separately from the
 * implementation: each eligible peer's current weight grows by its effective
 * weight, the largest current (first on ties) wins and pays the total.
 */
function referenceSwrr(weights: number[], count: number): number[] {
  const peers = weights.map((weight) => ({ weight, effective: weight, current: 0 }));
  const out: number[] = [];
  for (let k = 0; k < count; k++) {
    let best: (typeof peers)[number] | undefined;
    let bestIndex = -1;
    let total = 0;
    peers.forEach((p, i) => {
      if (p.weight === 0) return;
      p.current += p.effective;
      total += p.effective;
      if (p.effective < p.weight) p.effective++;
      if (best === undefined || p.current > best.current) {
        best = p;
        bestIndex = i;
      }
    });
    if (best) best.current -= total;
    out.push(bestIndex);
  }
  return out;
}

/** The same reference with per-step eligibility and failures (nginx's free-peer rule). */
function referenceSwrrSteps(weights: number[], maxFails: number, steps: { down: number[]; fail: number }[]): number[] {
  const peers = weights.map((weight) => ({ weight, effective: weight, current: 0 }));
  return steps.map(({ down, fail }) => {
    if (fail >= 0 && fail < peers.length && maxFails > 0) {
      const p = peers[fail]!;
      p.effective = Math.max(0, p.effective - Math.floor(p.weight / maxFails));
    }
    let bestIndex = -1;
    let total = 0;
    peers.forEach((p, i) => {
      if (p.weight === 0 || down.includes(i)) return;
      p.current += p.effective;
      total += p.effective;
      if (p.effective < p.weight) p.effective++;
      if (bestIndex < 0 || p.current > peers[bestIndex]!.current) bestIndex = i;
    });
    if (bestIndex >= 0) peers[bestIndex]!.current -= total;
    return bestIndex;
  });
}

describe("weighted_round_robin (nginx smooth WRR)", () => {
  test("weights 5,1,1 give a a b a c a a, repeating", () => {
    const s = weightedRoundRobin(targetsOf(5, 1, 1));
    expect(letters(picks(s, makeCtx(), 14))).toBe("aabacaaaabacaa");
  });

  test("equal weights rotate in order; ties go to the earlier target", () => {
    const s = weightedRoundRobin(targetsOf(1, 1, 1));
    expect(letters(picks(s, makeCtx(), 6))).toBe("abcabc");
    const t = weightedRoundRobin(targetsOf(2, 2));
    expect(letters(picks(t, makeCtx(), 4))).toBe("abab");
  });

  test("weight 0 gets no traffic", () => {
    const s = weightedRoundRobin(targetsOf(0, 3, 0, 1));
    const seq = picks(s, makeCtx(), 40);
    expect(seq.includes(0) || seq.includes(2)).toBe(false);
    expect(seq.filter((i) => i === 1).length).toBe(30);
  });

  test("tried and unavailable targets are skipped; none eligible -> -1", () => {
    const s = weightedRoundRobin(targetsOf(5, 1, 1));
    const ctx = makeCtx({ tried: [0], unavailable: [2] });
    expect(picks(s, ctx, 5)).toEqual([1, 1, 1, 1, 1]);
    ctx.triedSet.add(1);
    expect(s.pick(ctx)).toBe(-1);
    expect(weightedRoundRobin([]).pick(makeCtx())).toBe(-1);
  });

  test("a failure lowers effective weight by floor(weight / maxFails), floor 0, and it climbs back by 1 per selection", () => {
    const st = new SmoothWeights(targetsOf(10, 10), 3);
    st.fail(0);
    expect(st.effective[0]).toBe(7); // 10 - floor(10 / 3)
    st.fail(0);
    st.fail(0);
    st.fail(0);
    expect(st.effective[0]).toBe(0); // floor 0, never negative
    const ctx = makeCtx();
    for (let k = 1; k <= 10; k++) {
      st.pick(ctx);
      expect(st.effective[0]).toBe(k); // +1 per selection it takes part in
    }
    st.pick(ctx);
    expect(st.effective[0]).toBe(10); // capped at the configured weight
  });

  test("an ineligible target does not climb back (it takes part in no selection)", () => {
    const st = new SmoothWeights(targetsOf(4, 4), 1);
    st.fail(0);
    expect(st.effective[0]).toBe(0);
    const ctx = makeCtx({ unavailable: [0] });
    for (let k = 0; k < 5; k++) st.pick(ctx);
    expect(st.effective[0]).toBe(0);
  });

  test("report({ok:false}) with the default maxFails 1 drops effective weight to 0; maxFails 0 disables", () => {
    const s = weightedRoundRobin(targetsOf(5, 1, 1));
    s.report!(0, { ok: false, latencyMs: 1, now: 0 });
    // a's effective weight is 0: it adds nothing this round, b wins first.
    const seq = letters(picks(s, makeCtx(), 3));
    expect(seq[0]).toBe("b");
    const off = weightedRoundRobin(targetsOf(5, 1, 1), { maxFails: 0 });
    off.report!(0, { ok: false, latencyMs: 1, now: 0 });
    expect(letters(picks(off, makeCtx(), 7))).toBe("aabacaa");
    s.report!(0, { ok: true, latencyMs: 1, now: 0 }); // success changes nothing
  });

  test("a failed sole target is still picked (effective 0 is not ineligible, as in nginx)", () => {
    const s = weightedRoundRobin(targetsOf(3));
    s.report!(0, { ok: false, latencyMs: 1, now: 0 });
    expect(s.pick(makeCtx())).toBe(0);
  });

  test("slow start: weightFactor scales the weight used", () => {
    const s = weightedRoundRobin(targetsOf(4, 4));
    const ctx = makeCtx({ factor: (i) => (i === 1 ? 0.25 : 1) });
    const seq = picks(s, ctx, 500);
    expect(seq.filter((i) => i === 1).length).toBe(100); // 1 : 4 split
    const zero = makeCtx({ factor: (i) => (i === 0 ? 0 : 1) });
    expect(picks(weightedRoundRobin(targetsOf(4, 4)), zero, 3)).toEqual([1, 1, 1]);
  });

  test("property: the sequence equals a plain reference of nginx's algorithm", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 12 }), (weights) => {
        const s = weightedRoundRobin(targetsOf(...weights));
        const count = 3 * weights.reduce((a, b) => a + b, 0) + 5;
        expect(picks(s, makeCtx(), count)).toEqual(referenceSwrr(weights, count));
      }),
      { numRuns: 300 },
    );
  });

  test("property: with targets going up and down and failures reported, still the reference", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 12 }), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 0, max: 4 }),
        fc.array(
          fc.record({
            down: fc.array(fc.integer({ min: 0, max: 7 }), { maxLength: 3 }),
            fail: fc.integer({ min: -6, max: 7 }),
          }),
          { minLength: 1, maxLength: 80 },
        ),
        (weights, maxFails, steps) => {
          const s = weightedRoundRobin(targetsOf(...weights), { maxFails });
          const ctx = makeCtx();
          const got = steps.map(({ down, fail }) => {
            if (fail >= 0 && fail < weights.length) s.report!(fail, { ok: false, latencyMs: 1, now: 0 });
            ctx.down = new Set(down);
            return s.pick(ctx);
          });
          expect(got).toEqual(referenceSwrrSteps(weights, maxFails, steps));
        },
      ),
      { numRuns: 300 },
    );
  });

  test("property: the allEligible fast path (heaps) alternating with the O(n) pass is still exactly the reference", () => {
    let fast = 0;
    let total = 0;
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 12 }), { minLength: 1, maxLength: 9 }),
        fc.integer({ min: 0, max: 4 }),
        fc.array(
          fc.record({
            // mostly calm steps (everything up, no failure) so the fast path runs in long stretches
            down: fc.oneof({ weight: 4, arbitrary: fc.constant<number[]>([]) }, {
              weight: 1,
              arbitrary: fc.array(fc.integer({ min: 0, max: 8 }), { maxLength: 3 }),
            }),
            fail: fc.oneof({ weight: 6, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 8 }) }),
            hint: fc.boolean(), // false = the balancer does not know (always allowed)
          }),
          { minLength: 1, maxLength: 200 },
        ),
        (weights, maxFails, steps) => {
          const s = new SmoothWeights(targetsOf(...weights), maxFails);
          const ctx = makeCtx();
          const got = steps.map(({ down, fail, hint }) => {
            if (fail >= 0 && fail < weights.length) s.fail(fail);
            ctx.down = new Set(down);
            const all = hint && down.every((i) => i >= weights.length);
            ctx.allEligible = () => all;
            return s.pick(ctx);
          });
          expect(got).toEqual(referenceSwrrSteps(weights, maxFails, steps));
          fast += s.fastPicks;
          total += steps.length;
        },
      ),
      { numRuns: 400 },
    );
    expect(fast / total).toBeGreaterThan(0.2); // the fast path really ran
  });

  test("fast path: long calm stretches from a skewed state match the reference, and the state is synced back", () => {
    const weights = [7, 3, 3, 1, 0, 5, 7];
    const steps = [
      ...Array.from({ length: 50 }, () => ({ down: [] as number[], fail: -1 })),
      { down: [], fail: 0 },
      ...Array.from({ length: 30 }, () => ({ down: [1, 5], fail: -1 })),
      ...Array.from({ length: 500 }, () => ({ down: [] as number[], fail: -1 })),
    ];
    const s = new SmoothWeights(targetsOf(...weights), 1);
    const ctx = makeCtx();
    const got = steps.map(({ down, fail }) => {
      if (fail >= 0) s.fail(fail);
      ctx.down = new Set(down);
      ctx.allEligible = () => down.length === 0;
      return s.pick(ctx);
    });
    expect(got).toEqual(referenceSwrrSteps(weights, 1, steps));
    expect(s.fastPicks).toBeGreaterThan(400);
    s.sync();
    expect(Array.from(s.current).reduce((a, b) => a + b, 0)).toBe(0); // nginx's currents always sum to 0
  });
});
