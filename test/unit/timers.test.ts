import { describe, expect, test } from "bun:test";
import { coarseTimers, type Interval } from "../../src/runtimes/server/timers.ts";
import { reportedErrors } from "./reported-errors.ts";

/** A manual clock and an interval that sweeps only when the test says so. */
function harness(tickMs = 50) {
  let t = 1_000;
  let sweep: (() => void) | undefined;
  let starts = 0;
  const interval: Interval = {
    start(fn, ms) {
      expect(ms).toBe(tickMs);
      starts++;
      sweep = fn;
      return starts;
    },
    stop() {
      sweep = undefined;
    },
  };
  const deadline = coarseTimers(() => t, tickMs, interval);
  return {
    deadline,
    /** Move the clock on by `ms`, sweeping once per tick as the interval would. */
    advance(ms: number) {
      const end = t + ms;
      while (t < end) {
        t = Math.min(end, t + tickMs);
        sweep?.();
      }
    },
    get running() {
      return sweep !== undefined;
    },
    get starts() {
      return starts;
    },
  };
}

describe("coarseTimers: one interval for every response timeout", () => {
  test("a deadline fires once, never early, and at most one tick late", () => {
    const h = harness();
    const fired: number[] = [];
    h.deadline(120, () => fired.push(1));
    h.advance(100);
    expect(fired).toEqual([]);
    h.advance(50);
    expect(fired).toEqual([1]);
    h.advance(500);
    expect(fired).toEqual([1]);
  });

  test("deadlines fire in tick order, whatever order they were set in", () => {
    const h = harness();
    const fired: string[] = [];
    h.deadline(1_000, () => fired.push("late"));
    h.deadline(60, () => fired.push("early"));
    h.deadline(300, () => fired.push("middle"));
    h.advance(1_050);
    expect(fired).toEqual(["early", "middle", "late"]);
  });

  test("a cancelled deadline never fires, and cancelling twice or after it fired changes nothing", () => {
    const h = harness();
    const fired: string[] = [];
    const cancelA = h.deadline(100, () => fired.push("a"));
    const cancelB = h.deadline(100, () => fired.push("b"));
    cancelA();
    cancelA();
    h.advance(200);
    expect(fired).toEqual(["b"]);
    cancelB();
    expect(fired).toEqual(["b"]);
  });

  test("the interval stops once nothing is pending and starts again for the next deadline", () => {
    const h = harness();
    const cancel = h.deadline(5_000, () => {});
    expect(h.running).toBe(true);
    cancel();
    h.advance(50);
    expect(h.running).toBe(false);
    const fired: number[] = [];
    h.deadline(10, () => fired.push(1));
    expect(h.starts).toBe(2);
    h.advance(50);
    expect(fired).toEqual([1]);
    h.advance(50);
    expect(h.running).toBe(false);
  });

  test("cancelled deadlines are let go once their whole tick is cancelled, not held until it comes round", () => {
    const h = harness();
    const cancels = Array.from({ length: 100 }, () => h.deadline(60_000, () => {}));
    const keep = h.deadline(60_000, () => {});
    expect(h.deadline.held).toBe(101);
    cancels.forEach((cancel) => cancel());
    expect(h.deadline.held).toBe(101); // one deadline of that tick is still pending
    keep();
    expect(h.deadline.held).toBe(0);
    const fired: number[] = [];
    h.deadline(60_000, () => fired.push(1)); // the same tick again, in a new bucket
    h.advance(60_050);
    expect(fired).toEqual([1]);
  });

  test("a deadline set from a firing one (the client watch, then the rest of the timeout) fires on a later tick", () => {
    const h = harness();
    const fired: string[] = [];
    h.deadline(50, () => {
      fired.push("watch");
      h.deadline(0, () => fired.push("timeout"));
    });
    h.advance(50);
    expect(fired).toEqual(["watch"]);
    h.advance(50);
    expect(fired).toEqual(["watch", "timeout"]);
  });

  test("a deadline that throws does not stop the others in its tick, and the error is reported, not thrown at the sweep", () => {
    const h = harness();
    const fired: string[] = [];
    h.deadline(10, () => {
      throw new Error("boom");
    });
    h.deadline(10, () => fired.push("other"));
    let reported: unknown[] = [];
    expect(() => (reported = reportedErrors(() => h.advance(50)))).not.toThrow();
    expect(fired).toEqual(["other"]);
    expect(reported.map((e) => (e as Error).message)).toEqual(["boom"]);
  });

  test("the real interval: a deadline fires on its own, not early", async () => {
    const deadline = coarseTimers(() => performance.now(), 5);
    const fired = await new Promise<number>((resolve) => {
      const start = performance.now();
      deadline(20, () => resolve(performance.now() - start));
    });
    expect(fired).toBeGreaterThanOrEqual(20);
  });
});
