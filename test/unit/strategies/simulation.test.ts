import { describe, expect, test } from "bun:test";
import { defaultScenario, runComparison } from "../../bench/strategies-sim.ts";
import { strategyDefaults } from "../../../strategies/options.ts";

describe("simulation: one target 10x slower (deterministic, virtual time)", () => {
  const results = runComparison();
  const by = Object.fromEntries(results.map((r) => [r.strategy, r]));
  const rr = by.round_robin!;

  test("is deterministic", () => {
    expect(runComparison()).toEqual(results);
  });

  test("latency_aware and least_request beat round robin's p99 by at least 2x", () => {
    expect(by.latency_aware!.p99 * 2).toBeLessThanOrEqual(rr.p99);
    expect(by.least_request!.p99 * 2).toBeLessThanOrEqual(rr.p99);
    expect(by.least_connections!.p99 * 2).toBeLessThanOrEqual(rr.p99);
  });

  test("latency_aware gives no target less than the floor share", () => {
    const fair = 1 / defaultScenario.baseMs.length;
    for (const share of by.latency_aware!.share) expect(share).toBeGreaterThanOrEqual(strategyDefaults.latencyFloor * fair);
  });
});
