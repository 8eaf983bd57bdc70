import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { S, table } from "./helpers.ts";

const s500 = { kind: "status", status: 500 } as const;
const s200 = { kind: "status", status: 200 } as const;

function fiveXX(t: ReturnType<typeof table>["t"], i: number, n: number, now: number) {
  for (let k = 0; k < n; k++) t.recordAttempt(i, s500, now);
}

describe("outlier detection (Envoy consecutive 5xx)", () => {
  const od = { outlierDetection: { maxEjectionPercent: 100 }, passive: { maxFails: 0 } };

  test("5 consecutive 5xx eject for base time; a success in between resets the run", () => {
    const { t, events } = table(4, od);
    fiveXX(t, 0, 4, 0);
    t.recordAttempt(0, s200, 0);
    fiveXX(t, 0, 4, 0);
    expect(t.available(0, 0)).toBe(true);
    t.recordAttempt(0, { kind: "connect" }, 0); // local failures count as 5xx
    expect(t.available(0, 0)).toBe(false);
    expect(t.status(0, 0)).toMatchObject({ state: "ejected", ejections: 1, ejectedUntil: 30 * S });
    expect(t.available(0, 30 * S - 1)).toBe(false);
    expect(t.available(0, 30 * S)).toBe(true);
    expect(events.map((e) => [e.to, e.reason])).toEqual([
      ["ejected", "ejected for 30 s after 5 consecutive 5xx (ejection 1)"],
      ["healthy", "ejection ended"],
    ]);
  });

  test("ejection time is base x ejections, capped by maxEjectionTime", () => {
    const { t } = table(2, { ...od, outlierDetection: { ...od.outlierDetection, maxEjectionTime: 100, interval: 1000 } });
    let now = 0;
    const durations: number[] = [];
    for (let k = 0; k < 5; k++) {
      fiveXX(t, 0, 5, now);
      const until = t.status(0, now).ejectedUntil!;
      durations.push((until - now) / S);
      now = until;
    }
    expect(durations).toEqual([30, 60, 90, 100, 100]);
  });

  test("base wins when it exceeds maxEjectionTime", () => {
    const { t } = table(2, { ...od, outlierDetection: { ...od.outlierDetection, baseEjectionTime: 50, maxEjectionTime: 10 } });
    fiveXX(t, 0, 5, 0);
    expect(t.status(0, 0).ejectedUntil).toBe(50 * S);
  });

  test("the multiplier decays by one per interval spent un-ejected", () => {
    const { t } = table(2, { ...od, outlierDetection: { ...od.outlierDetection, interval: 10 } });
    fiveXX(t, 0, 5, 0); // 30 s
    fiveXX(t, 0, 5, 30 * S); // 60 s, until 90 s
    expect(t.status(0, 30 * S).ejections).toBe(2);
    // 25 s after the end: two intervals, multiplier 2 -> 0, this ejection is the 1st again.
    fiveXX(t, 0, 5, 115 * S);
    expect(t.status(0, 115 * S)).toMatchObject({ ejections: 1, ejectedUntil: 145 * S });
  });

  test("maxEjectionPercent: eject only while the ejected share is below it (10 % of 10 = 1, of 20 = 2)", () => {
    for (
      const [n, expected] of [
        [10, 1],
        [20, 2],
        [5, 1],
        [1, 0], // a single target is never taken out by passive checks
      ] as const
    ) {
      const { t } = table(n, { outlierDetection: {}, passive: { maxFails: 0 } });
      for (let i = 0; i < n; i++) fiveXX(t, i, 5, 0);
      expect(t.statuses(0).filter((s) => s.state === "ejected").length).toBe(expected);
    }
  });

  test("maxEjectionPercent 0 never ejects", () => {
    const { t } = table(4, { outlierDetection: { maxEjectionPercent: 0 }, passive: { maxFails: 0 } });
    fiveXX(t, 0, 20, 0);
    expect(t.available(0, 0)).toBe(true);
  });

  test("consecutiveGatewayFailure counts 502/503/504 and local failures only", () => {
    const { t } = table(4, { outlierDetection: { consecutive5xx: 0, consecutiveGatewayFailure: 3, maxEjectionPercent: 100 }, passive: { maxFails: 0 } });
    fiveXX(t, 0, 10, 0); // 500 is not a gateway failure
    expect(t.available(0, 0)).toBe(true);
    t.recordAttempt(1, { kind: "status", status: 502 }, 0);
    t.recordAttempt(1, { kind: "timeout" }, 0);
    t.recordAttempt(1, { kind: "status", status: 504 }, 0);
    expect(t.status(1, 0).state).toBe("ejected");
  });

  test("a passing active probe lifts an ejection (Envoy successful_active_health_check_uneject_host)", () => {
    const { t } = table(2, { ...od, healthCheck: {} });
    fiveXX(t, 0, 5, 0);
    t.recordProbe(0, true, "200", 1 * S);
    expect(t.available(0, 1 * S)).toBe(true);
  });
});

describe("active checks (ALB thresholds)", () => {
  test("starts healthy; the first probe decides alone; then unhealthyThreshold / healthyThreshold consecutive results", () => {
    const { t, events } = table(2, { healthCheck: { healthyThreshold: 3, unhealthyThreshold: 2 } });
    expect(t.available(0, 0)).toBe(true);
    t.recordProbe(0, false, "503 (expected 200)", 0);
    expect(t.available(0, 0)).toBe(false);
    t.recordProbe(0, true, "200", 1);
    t.recordProbe(0, true, "200", 2);
    expect(t.available(0, 2)).toBe(false);
    t.recordProbe(0, false, "timeout", 3); // breaks the run
    t.recordProbe(0, true, "200", 4);
    t.recordProbe(0, true, "200", 5);
    expect(t.available(0, 5)).toBe(false);
    t.recordProbe(0, true, "200", 6);
    expect(t.available(0, 6)).toBe(true);
    t.recordProbe(0, false, "timeout", 7);
    expect(t.available(0, 7)).toBe(true);
    t.recordProbe(0, true, "200", 8);
    t.recordProbe(0, false, "timeout", 9);
    expect(t.available(0, 9)).toBe(true);
    t.recordProbe(0, false, "connect", 10);
    expect(t.available(0, 10)).toBe(false);
    expect(t.status(0, 10)).toMatchObject({ lastProbe: { ok: false, detail: "connect", at: 10 }, consecutiveProbeFail: 2 });
    expect(events.map((e) => [e.from, e.to, e.reason])).toEqual([
      ["healthy", "unhealthy", "first probe failed: 503 (expected 200)"],
      ["unhealthy", "healthy", "3 consecutive passed probes"],
      ["healthy", "unhealthy", "2 consecutive failed probes: connect"],
    ]);
  });

  test("initialState unhealthy: out of service until the first probe passes", () => {
    const { t } = table(2, { healthCheck: { initialState: "unhealthy" } });
    expect(t.available(0, 0)).toBe(false);
    t.recordProbe(0, true, "200", 1);
    expect(t.available(0, 1)).toBe(true);
    expect(t.weightFactor(0, 1)).toBe(1);
  });

  test("enabled: false leaves targets healthy", () => {
    const { t } = table(2, { healthCheck: { enabled: false, initialState: "unhealthy" } });
    expect(t.available(0, 0)).toBe(true);
  });
});

describe("slow start", () => {
  test("linear ramp from the min percent to 1 after recovery; never at start; ends by itself", () => {
    const { t, events } = table(2, { slowStart: 10, healthCheck: { healthyThreshold: 1, unhealthyThreshold: 1 } });
    expect(t.weightFactor(0, 0)).toBe(1);
    expect(t.allEligible(0)).toBe(true);
    t.recordProbe(0, false, "x", 0);
    t.recordProbe(0, true, "200", 100 * S);
    expect(t.weightFactor(0, 100 * S)).toBeCloseTo(0.1);
    expect(t.weightFactor(0, 100.5 * S)).toBeCloseTo(0.1);
    expect(t.weightFactor(0, 102.5 * S)).toBeCloseTo(0.25);
    expect(t.weightFactor(0, 105 * S)).toBeCloseTo(0.5);
    expect(t.status(0, 105 * S).state).toBe("slow_start");
    expect(t.allEligible(105 * S)).toBe(false);
    expect(t.available(0, 105 * S)).toBe(true);
    expect(t.weightFactor(0, 110 * S)).toBe(1);
    expect(t.allEligible(110 * S)).toBe(true);
    expect(events.map((e) => [e.to, e.reason])).toEqual([
      ["unhealthy", "first probe failed: x"],
      ["slow_start", "1 consecutive passed probe"],
      ["healthy", "slow start complete"],
    ]);
  });

  test("slowStartMinWeightPercent sets the floor", () => {
    const { t } = table(2, { slowStart: 100, slowStartMinWeightPercent: 50 });
    t.beginSlowStart(1, 0);
    expect(t.weightFactor(1, 10 * S)).toBe(0.5);
    expect(t.weightFactor(1, 60 * S)).toBeCloseTo(0.6);
  });

  test("a passive recovery and the end of an ejection both ramp", () => {
    const { t } = table(3, { slowStart: 10, outlierDetection: { consecutive5xx: 1, maxEjectionPercent: 100 } });
    t.recordAttempt(0, { kind: "connect" }, 0);
    t.beginAttempt(0, 10 * S);
    t.recordAttempt(0, { kind: "status", status: 200 }, 10 * S);
    expect(t.weightFactor(0, 15 * S)).toBeCloseTo(0.5);
    t.recordAttempt(1, { kind: "status", status: 500 }, 0);
    expect(t.status(1, 0).state).toBe("ejected");
    expect(t.weightFactor(1, 35 * S)).toBeCloseTo(0.5); // ejected until 30 s, ramp from there
  });
});

describe("draining", () => {
  test("a draining target takes no new traffic, keeps its deadline, and ramps when undrained", () => {
    const { t, events } = table(3, { slowStart: 10, panicThreshold: 100 });
    t.setDraining(1, 300 * S, 0);
    expect(t.available(1, 0)).toBe(false);
    expect(t.drainDeadline(1)).toBe(300 * S);
    expect(t.status(1, 500 * S)).toMatchObject({ state: "draining", drainDeadline: 300 * S, available: false });
    t.setDraining(1, undefined, 500 * S);
    expect(t.available(1, 500 * S)).toBe(true);
    expect(t.weightFactor(1, 505 * S)).toBeCloseTo(0.5);
    expect(events.map((e) => e.to)).toEqual(["draining", "slow_start"]);
    expect(t.allEligible(510 * S)).toBe(true);
    expect(events.map((e) => e.to)).toEqual(["draining", "slow_start", "healthy"]);
  });
});

describe("panic threshold (Envoy healthy_panic_threshold)", () => {
  const down = (t: ReturnType<typeof table>["t"], i: number) => t.recordAttempt(i, { kind: "connect" }, 0);

  test("off by default: nothing available means nothing available", () => {
    const { t } = table(2);
    down(t, 0);
    down(t, 1);
    expect(t.panic(0)).toBe(false);
    expect(t.available(0, 0)).toBe(false);
  });

  test("below the threshold every non-draining target is used", () => {
    const { t } = table(5, { panicThreshold: 50 });
    t.setDraining(4, 1e9, 0);
    down(t, 0);
    down(t, 1);
    expect(t.panic(0)).toBe(false); // 2 of 4 non-draining = 50 %, not below
    down(t, 2);
    expect(t.panic(0)).toBe(true);
    expect([0, 1, 2, 3, 4].map((i) => t.available(i, 0))).toEqual([true, true, true, true, false]);
  });

  test("an available backup prevents panic", () => {
    const { t } = table(3, { panicThreshold: 50 }, { backups: [2] });
    expect(t.allEligible(0, "primary")).toBe(true);
    down(t, 0);
    expect([t.allEligible(0), t.allEligible(0, "primary"), t.allEligible(0, "backup")]).toEqual([false, false, true]);
    down(t, 1);
    expect(t.panic(0)).toBe(false);
    down(t, 2);
    expect(t.panic(0)).toBe(true);
  });
});

describe("O(1) counters", () => {
  test("allEligible and counts agree with a brute-force scan under random operations", () => {
    const op = fc.oneof(
      fc.record({
        k: fc.constant("attempt" as const),
        i: fc.nat(4),
        kind: fc.constantFrom("ok", "connect", "status" as const),
        status: fc.constantFrom(200, 500, 503),
      }),
      fc.record({ k: fc.constant("begin" as const), i: fc.nat(4) }),
      fc.record({ k: fc.constant("probe" as const), i: fc.nat(4), ok: fc.boolean() }),
      fc.record({ k: fc.constant("drain" as const), i: fc.nat(4), on: fc.boolean() }),
      fc.record({ k: fc.constant("wait" as const), ms: fc.integer({ min: 0, max: 40_000 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const { t } = table(5, {
          slowStart: 20,
          passive: { maxFails: 2 },
          outlierDetection: { consecutive5xx: 2, maxEjectionPercent: 50 },
          healthCheck: { healthyThreshold: 2, unhealthyThreshold: 2 },
        }, { backups: [3, 4] });
        let now = 0;
        for (const o of ops) {
          if (o.k === "attempt") t.recordAttempt(o.i, { kind: o.kind, status: o.status }, now);
          else if (o.k === "begin") t.beginAttempt(o.i, now);
          else if (o.k === "probe") t.recordProbe(o.i, o.ok, "x", now);
          else if (o.k === "drain") t.setDraining(o.i, o.on ? now + 1000 : undefined, now);
          else now += o.ms;
          const eligible = (i: number) => t.available(i, now) && t.weightFactor(i, now) === 1;
          if (t.allEligible(now) !== [0, 1, 2, 3, 4].every(eligible)) return false;
          if (t.allEligible(now, "primary") !== [0, 1, 2].every(eligible)) return false;
          if (t.allEligible(now, "backup") !== [3, 4].every(eligible)) return false;
          const avail = [0, 1, 2, 3, 4].filter((i) => t.available(i, now)).length;
          if (t.counts(now).available !== avail) return false;
        }
        return true;
      }),
      { numRuns: 300 },
    );
  });
});
