import { describe, expect, test } from "bun:test";
import { random } from "../../../strategies/random.ts";
import { leastRequest } from "../../../strategies/least_request.ts";
import { WeightedSampler } from "../../../strategies/sampler.ts";
import type { PickContext } from "../../../strategies/types.ts";
import { makeCtx, shares, targetsOf, weightShares } from "./helpers.ts";

describe("WeightedSampler", () => {
  test("alias table draws exactly in proportion to weight (deterministic sweep over u)", () => {
    const w = [3, 0, 1, 4];
    const s = new WeightedSampler(w);
    const hits = [0, 0, 0, 0];
    const steps = 80_000;
    for (let k = 0; k < steps; k++) hits[s.draw((k + 0.5) / steps)]!++;
    weightShares(w).forEach((share, i) => expect(Math.abs(hits[i]! / steps - share)).toBeLessThan(1e-3));
  });

  test("falls back to an exact scan when most targets are down, and honours exclusions", () => {
    const s = new WeightedSampler(new Array(1000).fill(1));
    const ctx = makeCtx({ unavailable: Array.from({ length: 998 }, (_, i) => i + 2) });
    const got = shares({ pick: (c: PickContext) => s.pick(c) }, ctx, 1000, 10_000);
    expect(got[0]! + got[1]!).toBe(1);
    expect(Math.abs(got[0]! - 0.5)).toBeLessThan(0.03);
    expect(s.pick(ctx, Int32Array.of(0), 1)).toBe(1);
    expect(s.pick(ctx, Int32Array.of(0, 1), 2)).toBe(-1);
  });

  test("slow-start factor thins a target by rejection", () => {
    const s = new WeightedSampler([1, 1]);
    const ctx = makeCtx({ factor: (i) => (i === 0 ? 0.25 : 1), seed: 3 });
    const got = shares({ pick: (c: PickContext) => s.pick(c) }, ctx, 2, 50_000);
    expect(Math.abs(got[0]! - 0.2)).toBeLessThan(0.01); // 0.25 : 1
  });
});

describe("random", () => {
  test("skips tried / unavailable / weight 0; -1 when none", () => {
    const s = random(targetsOf(1, 0, 1));
    const ctx = makeCtx({ tried: [0] });
    for (let k = 0; k < 100; k++) expect(s.pick(ctx)).toBe(2);
    ctx.down.add(2);
    expect(s.pick(ctx)).toBe(-1);
    expect(random([]).pick(makeCtx())).toBe(-1);
  });

  test("deterministic given ctx.random", () => {
    const a = random(targetsOf(1, 2, 3));
    const b = random(targetsOf(1, 2, 3));
    const ca = makeCtx({ seed: 5 });
    const cb = makeCtx({ seed: 5 });
    for (let k = 0; k < 100; k++) expect(a.pick(ca)).toBe(b.pick(cb));
  });
});

describe("least_request (P2C)", () => {
  test("lowest inflight of the drawn candidates wins", () => {
    const s = leastRequest(targetsOf(1, 1));
    // with 2 targets both are always drawn (distinct): the idle one always wins
    const ctx = makeCtx({ inflight: [5, 0] });
    for (let k = 0; k < 200; k++) expect(s.pick(ctx)).toBe(1);
  });

  test("never compares a target with itself (envoy#11004)", () => {
    const seen: number[][] = [];
    const s = leastRequest(targetsOf(1, 1, 1), { choiceCount: 3 });
    const base = makeCtx({ inflight: [1, 1, 1], seed: 11 });
    const ctx: PickContext = {
      ...base,
      random: base.random,
      inflight(i) {
        seen[seen.length - 1]!.push(i);
        return 1;
      },
    };
    for (let k = 0; k < 500; k++) {
      seen.push([]);
      s.pick(ctx);
      const drawn = seen[seen.length - 1]!;
      expect(drawn.length).toBe(3);
      expect(new Set(drawn).size).toBe(3);
    }
  });

  test("ties go to the first drawn; one eligible target -> it; none -> -1", () => {
    const s = leastRequest(targetsOf(1, 1, 1));
    expect(s.pick(makeCtx({ unavailable: [0, 2] }))).toBe(1);
    expect(s.pick(makeCtx({ unavailable: [0, 1, 2] }))).toBe(-1);
  });

  test("weights: compares inflight/weight", () => {
    const s = leastRequest(targetsOf(4, 1));
    // 3/4 < 1/1: the heavy target wins although it has more in flight
    const ctx = makeCtx({ inflight: [3, 1] });
    for (let k = 0; k < 100; k++) expect(s.pick(ctx)).toBe(0);
  });

  test("with P2C the busiest of several targets is never picked", () => {
    const s = leastRequest(targetsOf(1, 1, 1, 1));
    const ctx = makeCtx({ inflight: [2, 9, 1, 3] });
    for (let k = 0; k < 1000; k++) expect(s.pick(ctx)).not.toBe(1);
  });
});
