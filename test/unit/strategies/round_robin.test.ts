import { describe, expect, test } from "bun:test";
import { roundRobin } from "../../../strategies/round_robin.ts";
import { makeCtx, picks, targetsOf } from "./helpers.ts";

describe("round_robin", () => {
  test("rotates in order, ignoring weights", () => {
    expect(picks(roundRobin(targetsOf(5, 1, 1)), makeCtx(), 7)).toEqual([0, 1, 2, 0, 1, 2, 0]);
  });

  test("weight 0 gets no traffic", () => {
    expect(picks(roundRobin(targetsOf(1, 0, 1)), makeCtx(), 4)).toEqual([0, 2, 0, 2]);
  });

  test("skips unavailable and tried targets and continues the rotation past them", () => {
    const s = roundRobin(targetsOf(1, 1, 1, 1));
    const ctx = makeCtx({ unavailable: [1] });
    expect(picks(s, ctx, 4)).toEqual([0, 2, 3, 0]);
    ctx.triedSet.add(2); // a retry after 2 failed: the next pick is 3, not 2 again
    expect(s.pick(ctx)).toBe(3);
    ctx.down.clear();
    expect(s.pick(ctx)).toBe(0);
    expect(s.pick(ctx)).toBe(1);
  });

  test("-1 when nothing is eligible (also with no targets)", () => {
    expect(roundRobin(targetsOf(1, 1)).pick(makeCtx({ unavailable: [0, 1] }))).toBe(-1);
    expect(roundRobin(targetsOf(0, 0)).pick(makeCtx())).toBe(-1);
    expect(roundRobin([]).pick(makeCtx())).toBe(-1);
  });

  test("slow-start factor 0 excludes a target", () => {
    expect(picks(roundRobin(targetsOf(1, 1)), makeCtx({ factor: (i) => (i === 0 ? 0 : 0.5) }), 3)).toEqual([1, 1, 1]);
  });
});
