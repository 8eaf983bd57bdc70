import { describe, expect, test } from "bun:test";
import { leastConnections } from "../../../strategies/least_connections.ts";
import { weightedRoundRobin } from "../../../strategies/weighted_round_robin.ts";
import fc from "fast-check";
import { makeCtx, mulberry32, picks, targetsOf } from "./helpers.ts";

describe("least_connections (nginx least_conn)", () => {
  test("lowest inflight/weight wins", () => {
    const s = leastConnections(targetsOf(1, 1, 1));
    expect(s.pick(makeCtx({ inflight: [3, 1, 2] }))).toBe(1);
    // weights: 4/4 = 1 beats 2/1 = 2 and 3/2 = 1.5
    expect(leastConnections(targetsOf(4, 1, 2)).pick(makeCtx({ inflight: [4, 2, 3] }))).toBe(0);
  });

  test("cross-multiplication: 1/3 < 1/2 exactly, 2/4 == 1/2 is a tie", () => {
    const s = leastConnections(targetsOf(2, 3));
    expect(s.pick(makeCtx({ inflight: [1, 1] }))).toBe(1);
    const t = leastConnections(targetsOf(2, 4));
    // tie 1/2 == 2/4: smooth WRR among the tied, weights 2 and 4 -> b first
    expect(picks(t, makeCtx({ inflight: [1, 2] }), 3)).toEqual([1, 0, 1]);
  });

  test("ties are broken by smooth WRR among the tied peers only", () => {
    const s = leastConnections(targetsOf(5, 1, 1, 9));
    const seq = picks(s, makeCtx({ inflight: [0, 0, 0, 7] }), 7);
    expect(seq).toEqual(picks(weightedRoundRobin(targetsOf(5, 1, 1)), makeCtx(), 7)); // a a b a c a a
  });

  test("all idle: the same sequence as weighted round robin", () => {
    const w = [3, 0, 2, 5];
    expect(picks(leastConnections(targetsOf(...w)), makeCtx(), 30)).toEqual(
      picks(weightedRoundRobin(targetsOf(...w)), makeCtx(), 30),
    );
  });

  test("skips tried, unavailable and weight 0; -1 when none", () => {
    const s = leastConnections(targetsOf(1, 1, 0, 1));
    expect(s.pick(makeCtx({ inflight: [0, 5, 0, 9], tried: [0] }))).toBe(1);
    expect(s.pick(makeCtx({ inflight: [0, 5, 0, 9], unavailable: [0, 1] }))).toBe(3);
    expect(s.pick(makeCtx({ unavailable: [0, 1, 3] }))).toBe(-1);
  });

  test("slow start makes a warming target look fuller", () => {
    const s = leastConnections(targetsOf(1, 1));
    // 1 / (1 * 0.25) = 4 > 2 / 1
    expect(s.pick(makeCtx({ inflight: [1, 2], factor: (i) => (i === 0 ? 0.25 : 1) }))).toBe(1);
  });

  test("failure report lowers the target's share of ties (nginx effective weight)", () => {
    const s = leastConnections(targetsOf(1, 1));
    s.report!(0, { ok: false, latencyMs: 1, now: 0 });
    expect(s.pick(makeCtx())).toBe(1);
  });

  test("property: with the allEligible + inflightArray hints, the same picks as the per-target pass", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 12 }),
        fc.integer(),
        fc.boolean(),
        (weights, seed, hintOn) => {
          const a = leastConnections(targetsOf(...weights));
          const b = leastConnections(targetsOf(...weights));
          const load = new Int32Array(weights.length);
          const plain = makeCtx({ inflight: (i) => load[i]! });
          const hinted = makeCtx({ inflight: () => Number.NaN }); // must not be called per target
          hinted.inflightArray = () => load;
          hinted.allEligible = () => hintOn;
          if (!hintOn) hinted.inflight = (i) => load[i]!;
          const rnd = mulberry32(seed);
          for (let step = 0; step < 300; step++) {
            const i = a.pick(plain);
            expect(b.pick(hinted)).toBe(i);
            if (i >= 0) load[i]!++;
            if (rnd() < 0.3) a.report!(i, { ok: false, latencyMs: 1, now: 0 }), b.report!(i, { ok: false, latencyMs: 1, now: 0 });
            const j = Math.floor(rnd() * weights.length);
            if (rnd() < 0.6 && load[j]! > 0) load[j]!--;
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  test("property: the bucket path (notified in-flight changes, mixed weights) picks exactly as nginx's O(n) pass, across retries, outages and failures", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 14 }), fc.integer(), (weights, seed) => {
        const n = weights.length;
        const plainStrategy = leastConnections(targetsOf(...weights));
        const fast = leastConnections(targetsOf(...weights));
        const load = new Int32Array(n);
        const plain = makeCtx({ inflight: (i) => load[i]! });
        const hinted = makeCtx({ inflight: (i) => load[i]! });
        let eligible = true;
        hinted.inflightArray = () => load;
        hinted.allEligible = () => eligible && hinted.triedSet.size === 0 && hinted.down.size === 0;
        (hinted as { notifiesInflight?: boolean }).notifiesInflight = true;
        const change = (i: number, d: number) => {
          load[i]! += d;
          fast.inflightChanged!(i, load[i]!);
        };
        const rnd = mulberry32(seed);
        for (let step = 0; step < 400; step++) {
          // Now and then a retry (tried), an outage or a slow-start moment forces the O(n) path.
          const disturb = rnd();
          plain.triedSet.clear();
          hinted.triedSet.clear();
          plain.down.clear();
          hinted.down.clear();
          eligible = true;
          if (disturb < 0.05) {
            const t = Math.floor(rnd() * n);
            plain.triedSet.add(t);
            hinted.triedSet.add(t);
          } else if (disturb < 0.08) {
            const t = Math.floor(rnd() * n);
            plain.down.add(t);
            hinted.down.add(t);
          } else if (disturb < 0.1) eligible = false;
          const i = plainStrategy.pick(plain);
          expect(fast.pick(hinted)).toBe(i);
          if (i >= 0) change(i, 1);
          if (i >= 0 && rnd() < 0.03) {
            plainStrategy.report!(i, { ok: false, latencyMs: 1, now: 0 });
            fast.report!(i, { ok: false, latencyMs: 1, now: 0 });
          }
          const j = Math.floor(rnd() * n);
          if (rnd() < 0.55 && load[j]! > 0) change(j, -1);
        }
      }),
      { numRuns: 300 },
    );
  });
});
