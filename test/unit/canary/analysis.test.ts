/** The canary's pure parts: the verdict on a step, the weights a step gives the forward, and tallies merged across instances. */
import { expect, test } from "bun:test";
import * as v from "valibot";
import { judge } from "../../../src/canary/analysis.ts";
import { sideOf, Tally } from "../../../src/canary/measure.ts";
import { type Plan, weighted } from "../../../src/canary/plans.ts";
import { CanarySchema } from "../../../src/canary/schema.ts";

const config = v.parse(CanarySchema, {
  group: "green",
  interval: 10,
  minRequests: 100,
  maxErrorRate: 2,
  maxP99: 0.5,
  maxErrorRateOverStable: 1,
  maxP99OverStable: 1.5,
});
const side = (requests: number, errors: number, p99: number | undefined) => ({ requests, errors, errorRate: requests ? (errors * 100) / requests : 0, p99 });

test("too few canary requests is no verdict, whatever they say and however long the step ran", () => {
  expect(judge(config, side(99, 99, 9000), undefined, 60_000)).toEqual({ kind: "wait", why: "99 of 100 canary requests: waiting for traffic" });
  expect(judge(config, side(10, 0, 1), undefined, 1000).kind).toBe("wait");
});

test("a check over its limit fails the step at once, naming every limit passed", () => {
  const v1 = judge(config, side(100, 3, 100), undefined, 1000);
  expect(v1).toEqual({ kind: "fail", why: "5xx rate 3.00 % over maxErrorRate 2.00 %" });
  const v2 = judge(config, side(100, 3, 600), undefined, 1000);
  expect(v2.kind === "fail" && v2.why).toBe("5xx rate 3.00 % over maxErrorRate 2.00 %; p99 600.0 ms over maxP99 500.0 ms");
});

test("against the stable side: only when it has minRequests too", () => {
  // 1.5 % is within maxErrorRate, but 1.5 points over a stable 0 %; p99 2x the stable's.
  const canary = side(200, 3, 300);
  expect(judge(config, canary, side(50, 0, 100), 20_000).kind).toBe("pass");
  const v1 = judge(config, canary, side(500, 0, 100), 20_000);
  expect(v1.kind === "fail" && v1.why).toBe(
    "5xx rate 1.50 % is more than 1 points over the stable groups' 0.00 %; p99 300.0 ms is more than 1.5x the stable groups' 100.0 ms",
  );
});

test("within limits: the step passes once it has lasted its interval", () => {
  expect(judge(config, side(100, 1, 100), undefined, 9000)).toEqual({ kind: "wait", why: "within limits, 1 s of the step left" });
  expect(judge(config, side(100, 1, 100), undefined, 10_000)).toEqual({ kind: "pass" });
});

test("a step's weights: the canary at its share, the stable groups sharing the rest as configured, whole numbers adding to 100", () => {
  const plan = {
    rule: "10",
    config,
    forward: { targetGroups: [{ group: "a", weight: 2 }, { group: "b", weight: 1 }, { group: "green", weight: 0 }] },
    stable: [{ group: "a", weight: 2 }, { group: "b", weight: 1 }],
    text: "",
  } as Plan;
  expect(weighted(plan, 25).forward).toEqual({ targetGroups: [{ group: "a", weight: 50 }, { group: "b", weight: 25 }, { group: "green", weight: 25 }] });
  const odd = (weighted(plan, 5).forward as { targetGroups: { weight: number }[] }).targetGroups.map((g) => g.weight);
  expect(odd).toEqual([64, 31, 5]);
  expect((weighted(plan, 100).forward as { targetGroups: { weight: number }[] }).targetGroups.map((g) => g.weight)).toEqual([0, 0, 100]);
});

test("tallies of two instances added up give what one instance seeing every request would", () => {
  const [one, two, all] = [new Tally(), new Tally(), new Tally()];
  for (let i = 0; i < 1000; i++) {
    const ms = (i * 7919) % 400;
    const status = i % 50 === 0 ? 503 : 200;
    (i % 3 === 0 ? one : two).record(status, ms);
    all.record(status, ms);
  }
  expect(sideOf([one.data(), two.data()])).toEqual(sideOf([all.data()]));
  const s = sideOf([all.data()]);
  expect(s.requests).toBe(1000);
  expect(s.errorRate).toBe(2);
  // DDSketch at 1 %: the true p99 of 0..399 spread evenly is ~396.
  expect(Math.abs(s.p99! - 396) / 396).toBeLessThan(0.02);
});

test("the schema refuses steps that go down or do not end at 100, by field", () => {
  const issues = (input: unknown) => v.safeParse(CanarySchema, input).issues?.map((i) => i.message) ?? [];
  expect(issues({ group: "g", steps: [50, 25, 100] })).toContain("expected steps that only go up");
  expect(issues({ group: "g", steps: [5, 50] })).toContain("expected the last step to be 100 (the canary takes all the traffic, then it is promoted)");
});
