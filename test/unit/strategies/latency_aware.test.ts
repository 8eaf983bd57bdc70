import { describe, expect, test } from "bun:test";
import { latencyAware } from "../../../strategies/latency_aware.ts";
import { makeCtx, picks, shares, targetsOf } from "./helpers.ts";

const ok = (latencyMs: number, now: number) => ({ ok: true, latencyMs, now });
const majority = (seq: number[]) => {
  const counts = new Map<number, number>();
  for (const i of seq) counts.set(i, (counts.get(i) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]![0];
};

describe("latency_aware (peak EWMA + P2C + floor)", () => {
  test("prefers the lower latency; a peak takes effect at once; recovery is paced by the decay", () => {
    const s = latencyAware(targetsOf(1, 1), { latencyFloor: 0, latencyDecay: 10 }); // seconds
    const ctx = makeCtx();
    s.report!(0, ok(50, 0));
    s.report!(1, ok(20, 0));
    expect(picks(s, ctx, 50).every((i) => i === 1)).toBe(true); // 2 targets: both are always drawn
    s.report!(1, ok(100, 1)); // peak: replaces the estimate
    expect(picks(s, ctx, 50).every((i) => i === 0)).toBe(true);
    s.report!(1, ok(10, 2)); // 1 ms later: w = exp(-1/10000), barely moves
    expect(s.pick(ctx)).toBe(0);
    s.report!(1, ok(10, 100_002)); // 100 s later: w = exp(-10), the sample dominates
    expect(s.pick(ctx)).toBe(1);
  });

  test("latencyDecay is in seconds: 1 s of good news after a peak moves the estimate by 1 - exp(-1 / decay)", () => {
    // decay 1 s: after 1 s, w = exp(-1) ~ 0.37, so 100 -> 100 x 0.37 + 10 x 0.63 ~ 43 < 50: target 1 wins again.
    // decay 10 s (the default): w = exp(-0.1) ~ 0.90 -> ~91 > 50: target 0 still wins.
    for (const [decay, winner] of [[1, 1], [10, 0], [undefined, 0]] as const) {
      const s = latencyAware(targetsOf(1, 1), decay === undefined ? { latencyFloor: 0 } : { latencyFloor: 0, latencyDecay: decay });
      s.report!(0, ok(50, 0));
      s.report!(1, ok(100, 0));
      s.report!(1, ok(10, 1000));
      expect(s.pick(makeCtx())).toBe(winner);
    }
  });

  test("a fast failure never makes a target look faster: it doubles the estimate", () => {
    const s = latencyAware(targetsOf(1, 1), { latencyFloor: 0 });
    s.report!(0, ok(10, 0));
    s.report!(1, ok(15, 0));
    expect(s.pick(makeCtx())).toBe(0);
    s.report!(0, { ok: false, latencyMs: 1, now: 1 }); // refused in 1 ms: estimate 10 -> 20
    expect(s.pick(makeCtx())).toBe(1);
  });

  test("in-flight requests multiply the cost", () => {
    const s = latencyAware(targetsOf(1, 1), { latencyFloor: 0 });
    s.report!(0, ok(10, 0));
    s.report!(1, ok(25, 0));
    expect(s.pick(makeCtx({ inflight: [0, 0] }))).toBe(0);
    expect(s.pick(makeCtx({ inflight: [3, 0] }))).toBe(1); // 10 x 4 > 25 x 1
  });

  test("weight divides the cost", () => {
    const s = latencyAware(targetsOf(1, 4), { latencyFloor: 0 });
    s.report!(0, ok(10, 0));
    s.report!(1, ok(30, 0));
    expect(s.pick(makeCtx())).toBe(1); // 30 / 4 < 10 / 1
  });

  test("unmeasured: probed while idle, penalised once a probe is out (Finagle)", () => {
    const s = latencyAware(targetsOf(1, 1), { latencyFloor: 0 });
    s.report!(0, ok(5, 0));
    expect(s.pick(makeCtx({ inflight: [0, 0] }))).toBe(1);
    expect(s.pick(makeCtx({ inflight: [50, 1] }))).toBe(0);
  });

  test("skips tried / unavailable / weight 0; single eligible; none -> -1", () => {
    const s = latencyAware(targetsOf(1, 0, 1, 1));
    expect(picks(s, makeCtx({ tried: [0], unavailable: [2] }), 100).every((i) => i === 3)).toBe(true);
    expect(s.pick(makeCtx({ unavailable: [0, 2, 3] }))).toBe(-1);
    expect(latencyAware([]).pick(makeCtx())).toBe(-1);
  });

  test("floor: every eligible target gets at least latencyFloor x its weight share, however slow", () => {
    for (
      const [floor, weights] of [
        [0.02, [1, 1, 1, 1]],
        [0.05, [1, 2, 3, 4]],
        [0.1, [5, 1]],
      ] as const
    ) {
      const s = latencyAware(targetsOf(...weights), { latencyFloor: floor });
      const slow = weights.length - 1;
      weights.forEach((_, i) => s.report!(i, ok(i === slow ? 10_000 : 1, 0)));
      const got = shares(s, makeCtx({ seed: 3 }), weights.length, 100_000);
      const total = weights.reduce((a, b) => a + b, 0);
      weights.forEach((w, i) => expect(got[i]!).toBeGreaterThanOrEqual((floor * w) / total - 1e-4));
      expect(majority(picks(s, makeCtx({ seed: 4 }), 1000))).not.toBe(slow);
    }
  });

  test("floor 0 starves a much slower target (what the floor is for)", () => {
    const s = latencyAware(targetsOf(1, 1), { latencyFloor: 0 });
    s.report!(0, ok(1, 0));
    s.report!(1, ok(1000, 0));
    expect(shares(s, makeCtx(), 2, 10_000)[1]).toBe(0);
  });

  test("deterministic given ctx.random and the reports", () => {
    const run = () => {
      const s = latencyAware(targetsOf(1, 1, 1, 1, 1));
      const ctx = makeCtx({ seed: 9 });
      const out: number[] = [];
      for (let k = 0; k < 2000; k++) {
        const i = s.pick(ctx);
        out.push(i);
        s.report!(i, ok(1 + ((k * 7 + i * 13) % 17), k));
      }
      return out;
    };
    expect(run()).toEqual(run());
  });
});
