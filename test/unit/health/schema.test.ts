import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { healthEntries, parseHealthSettings } from "../../../src/health/schema.ts";
import { parseStatusRanges, statusMatcher } from "../../../src/health/status-matcher.ts";

const Schema = v.strictObject(healthEntries);
function problems(input: unknown): string[] {
  const r = v.safeParse(Schema, input);
  return r.success ? [] : r.issues.map((i) => `${i.path?.map((p) => p.key).join(".")}: ${i.message}`);
}

describe("health schema", () => {
  test("defaults: passive on, everything else off or at the peers' defaults", () => {
    expect(parseHealthSettings()).toEqual({
      passive: { maxFails: 1, failTimeout: 10, failOn: ["connect", "reset", "timeout"] },
      retries: { tries: 3, budget: 0, retryOn: [502, 503, 504], budgetPercent: 0, minRetryConcurrency: 3, maxReplayBodyBytes: 65536 },
      slowStart: 0,
      slowStartMinWeightPercent: 10,
      deregistrationDelay: 300,
      panicThreshold: 0,
    });
  });

  test("a present healthCheck key is enabled with ALB defaults", () => {
    expect(parseHealthSettings({ healthCheck: {} }).healthCheck).toEqual({
      enabled: true,
      interval: 30,
      timeout: 5,
      path: "/",
      method: "GET",
      headers: {},
      matcher: { statuses: "200" },
      healthyThreshold: 5,
      unhealthyThreshold: 2,
      jitter: 0.1,
      initialState: "healthy",
    });
    expect(parseHealthSettings({ outlierDetection: {} }).outlierDetection).toEqual({
      consecutive5xx: 5,
      baseEjectionTime: 30,
      maxEjectionTime: 300,
      maxEjectionPercent: 10,
      interval: 10,
    });
  });

  test("problems read `expected ..., got ...` at their field path", () => {
    expect(
      problems({
        // interval 1 alone is fine: the default timeout follows it (0.5 s) instead of colliding with it.
        healthCheck: { interval: 1, matcher: { statuses: "2xx" }, method: "POST" },
        passive: { failOn: ["error", 503] },
        retries: { tries: -1 },
      }).sort(),
    ).toEqual(
      [
        'healthCheck.matcher.statuses: expected HTTP statuses like "200" or "200-399,418", got "2xx"',
        'healthCheck.method: expected GET or HEAD, got "POST"',
        'passive.failOn.0: expected "connect", "timeout", "reset" or an HTTP status, got "error"',
        "retries.tries: expected an integer from 0 to 100, got -1",
      ].sort(),
    );
    expect(problems({ healthCheck: { interval: 1 } })).toEqual([]);
    expect(problems({ healthCheck: { interval: 1, timeout: 1 } })).toEqual(["healthCheck.timeout: expected a timeout below the interval (1 s), got 1"]);
    expect(problems({ healthCheck: { interval: 1, timeout: 0.5 } })).toEqual([]);
    expect(problems({ healthCheck: { interval: 0.5, timeout: 0.1 } })).toEqual(["healthCheck.interval: expected seconds from 1 to 300, got 0.5"]);
  });
});

describe("status matcher", () => {
  test("ALB syntax: single codes, lists, ranges", () => {
    expect(parseStatusRanges("200")).toEqual([[200, 200]]);
    expect(parseStatusRanges("200-399,418")).toEqual([
      [200, 399],
      [418, 418],
    ]);
    expect(parseStatusRanges(" 200 , 202 ")).toEqual([
      [200, 200],
      [202, 202],
    ]);
    for (const bad of ["", "2xx", "200-", "399-200", "99", "600", "200,,201", "200;201"]) expect(parseStatusRanges(bad)).toBeUndefined();
    const m = statusMatcher("200-399,418");
    expect([199, 200, 302, 399, 400, 418, 503].map(m)).toEqual([false, true, true, true, false, true, false]);
    expect([200, 503].map(statusMatcher("200"))).toEqual([true, false]);
  });
});
