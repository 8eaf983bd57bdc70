import { describe, expect, test } from "bun:test";
import { S, table } from "./helpers.ts";

const fail = { kind: "connect" } as const;
const ok = { kind: "status", status: 200 } as const;

describe("passive health (nginx max_fails / fail_timeout)", () => {
  test("maxFails=1: one failure takes the target out for failTimeout, then exactly one trial passes", () => {
    const { t, events } = table(3);
    t.beginAttempt(0, 0);
    expect(t.recordAttempt(0, fail, 0)).toBe(true);
    expect(t.available(0, 0)).toBe(false);
    expect(t.available(0, 9_999)).toBe(false);
    expect(t.status(0, 5 * S)).toMatchObject({ state: "unhealthy", fails: 1, downUntil: 10 * S });
    // The window has passed: available for a trial.
    expect(t.available(0, 10 * S)).toBe(true);
    t.beginAttempt(0, 10 * S);
    // Only one trial: the pick opened a new window.
    expect(t.available(0, 10 * S)).toBe(false);
    expect(t.available(0, 15 * S)).toBe(false);
    // The trial succeeds: live again, fails reset.
    t.recordAttempt(0, ok, 10.5 * S);
    expect(t.available(0, 10.5 * S)).toBe(true);
    expect(t.status(0, 10.5 * S)).toMatchObject({ state: "healthy", fails: 0, downUntil: undefined });
    expect(events.map((e) => [e.from, e.to])).toEqual([
      ["healthy", "unhealthy"],
      ["unhealthy", "healthy"],
    ]);
    expect(events[1]!.reason).toBe("trial request succeeded");
  });

  test("a failed trial takes the target out for another failTimeout, without a new transition", () => {
    const { t, events } = table(2);
    t.beginAttempt(0, 0);
    t.recordAttempt(0, fail, 0);
    t.beginAttempt(0, 10 * S);
    t.recordAttempt(0, { kind: "timeout" }, 12 * S);
    expect(t.available(0, 21 * S)).toBe(false);
    expect(t.available(0, 22 * S)).toBe(true);
    expect(t.status(0, 12 * S).fails).toBe(2);
    expect(events.length).toBe(1);
  });

  test("maxFails=2: two failures in the window, and nginx's exact reset rule", () => {
    const { t } = table(2, { passive: { maxFails: 2 } });
    t.beginAttempt(0, 0);
    t.recordAttempt(0, fail, 0);
    expect(t.available(0, 1 * S)).toBe(true);
    // A success inside the window does not reset fails (nginx: accessed < checked is false).
    t.beginAttempt(0, 5 * S);
    t.recordAttempt(0, ok, 5 * S);
    expect(t.status(0, 5 * S).fails).toBe(1);
    t.beginAttempt(0, 8 * S);
    t.recordAttempt(0, fail, 8 * S);
    expect(t.available(0, 8 * S)).toBe(false);
    expect(t.available(0, 18 * S)).toBe(true);
  });

  test("maxFails=2: the first success after the window resets the count", () => {
    const { t } = table(2, { passive: { maxFails: 2 } });
    t.beginAttempt(0, 0);
    t.recordAttempt(0, fail, 0);
    t.beginAttempt(0, 11 * S);
    t.recordAttempt(0, ok, 11 * S);
    expect(t.status(0, 11 * S).fails).toBe(0);
    t.beginAttempt(0, 12 * S);
    t.recordAttempt(0, fail, 12 * S);
    expect(t.available(0, 12 * S)).toBe(true);
  });

  test("maxFails=0 disables passive accounting", () => {
    const { t } = table(2, { passive: { maxFails: 0 } });
    for (let k = 0; k < 10; k++) t.recordAttempt(0, fail, k);
    expect(t.available(0, 10)).toBe(true);
    expect(t.status(0, 10).state).toBe("healthy");
  });

  test("a group of a single target is never marked down by passive checks", () => {
    const { t, events } = table(1, { outlierDetection: { consecutive5xx: 1 } });
    for (let k = 0; k < 10; k++) {
      t.beginAttempt(0, k);
      expect(t.recordAttempt(0, fail, k)).toBe(true);
      t.recordAttempt(0, { kind: "status", status: 500 }, k);
    }
    expect(t.available(0, 10)).toBe(true);
    expect(t.status(0, 10)).toMatchObject({ state: "healthy", fails: 0, ejections: 0 });
    expect(events).toEqual([]);
  });

  test("failOn decides what a failure is: listed statuses count, unlisted kinds do not", () => {
    const { t } = table(3, { passive: { failOn: ["connect", 503] } });
    expect(t.recordAttempt(0, { kind: "status", status: 500 }, 0)).toBe(false);
    expect(t.recordAttempt(0, { kind: "timeout" }, 0)).toBe(false);
    expect(t.available(0, 0)).toBe(true);
    expect(t.recordAttempt(0, { kind: "status", status: 503 }, 0)).toBe(true);
    expect(t.available(0, 0)).toBe(false);
    expect(t.recordAttempt(1, { kind: "connect" }, 0)).toBe(true);
    expect(t.available(1, 0)).toBe(false);
  });

  test("the default failOn is connect, reset and timeout; statuses are not failures", () => {
    const { t } = table(4);
    expect(t.recordAttempt(0, { kind: "reset" }, 0)).toBe(true);
    expect(t.recordAttempt(1, { kind: "timeout" }, 0)).toBe(true);
    expect(t.recordAttempt(2, { kind: "status", status: 502 }, 0)).toBe(false);
    expect(t.counts(0)).toEqual({ available: 2, unavailable: 2, impaired: 2 });
  });

  test("repeated failures while down fire no further transitions (events are per change, not per request)", () => {
    const { t, events } = table(2, { passive: { maxFails: 3 } });
    for (let k = 0; k < 50; k++) t.recordAttempt(0, fail, k);
    expect(events.length).toBe(1);
    expect(events[0]).toMatchObject({ index: 0, from: "healthy", to: "unhealthy", reason: "3 failed attempts (connect)", at: 2 });
  });
});
