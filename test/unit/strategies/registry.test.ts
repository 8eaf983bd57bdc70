import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { createStrategy, strategies, strategyNames } from "../../../strategies/index.ts";
import { isPrime, strategyDefaults, strategyOptionEntries } from "../../../strategies/options.ts";
import { makeCtx, targetsOf } from "./helpers.ts";

const schema = v.object({ strategy: v.picklist(strategyNames), ...strategyOptionEntries });
const issues = (input: unknown) => {
  const r = v.safeParse(schema, input);
  return r.success ? [] : r.issues.map((i) => i.message);
};

describe("registry and options", () => {
  test("names", () => {
    expect(strategyNames).toEqual([
      "round_robin",
      "weighted_round_robin",
      "least_connections",
      "least_request",
      "random",
      "ip_hash",
      "hash",
      "latency_aware",
    ]);
    expect(Object.keys(strategies)).toEqual(strategyNames);
  });

  test("every strategy builds with defaults and picks an eligible target", () => {
    for (const name of strategyNames) {
      const s = createStrategy(name, targetsOf(1, 2, 3));
      const i = s.pick(makeCtx({ key: "10.0.0.1", unavailable: [1] }));
      expect(i === 0 || i === 2).toBe(true);
      expect(createStrategy(name, []).pick(makeCtx({ key: "k" }))).toBe(-1);
    }
  });

  test("defaults are applied by the schema", () => {
    const r = v.parse(schema, { strategy: "hash" });
    expect(r).toEqual({
      strategy: "hash",
      hashAlgorithm: "ketama",
      hashTableSize: 65537,
      hashBalanceFactor: undefined,
      choiceCount: 2,
      latencyDecay: 10,
      latencyFloor: 0.02,
    });
    expect(strategyDefaults.maxFails).toBe(1);
  });

  test("clear messages", () => {
    expect(issues({ strategy: "hash", hashTableSize: 65536 })).toEqual([
      "expected a prime number (e.g. 65537, 131071, 655373)",
    ]);
    expect(issues({ strategy: "hash", hashTableSize: 1.5 })[0]).toBe("expected an integer");
    expect(issues({ strategy: "hash", hashBalanceFactor: 0.9 })[0]).toMatch(/factor >= 1/);
    expect(issues({ strategy: "least_request", choiceCount: 1 })[0]).toBe("expected at least 2 choices");
    expect(issues({ strategy: "latency_aware", latencyDecay: 0 })[0]).toMatch(/positive/);
    expect(issues({ strategy: "latency_aware", latencyFloor: 2 })[0]).toMatch(/between 0 and 1/);
    expect(issues({ strategy: "hash", hashAlgorithm: "rendezvous" })).toEqual(['expected one of ketama, maglev, got "rendezvous"']);
    expect(issues({ strategy: "fastest" })[0]).toMatch(/round_robin/); // the picklist lists the valid names
  });

  test("isPrime", () => {
    expect([2, 3, 5, 65537, 131071, 655373].every(isPrime)).toBe(true);
    expect([0, 1, 4, 9, 65536, 65535, 1.5, -7].some(isPrime)).toBe(false);
  });
});
