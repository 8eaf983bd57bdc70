import { describe, expect, test } from "bun:test";
import { AttemptCancellation, signalCancellation } from "../../src/cancellation.ts";
import { reportedErrors } from "./reported-errors.ts";

describe("AttemptCancellation: an attempt's cancellation, with a web AbortSignal only on demand", () => {
  test("listeners get the reason once; a removed one gets nothing", () => {
    const c = new AttemptCancellation();
    const heard: unknown[] = [];
    c.onAbort((r) => heard.push(["a", r]));
    const removeB = c.onAbort((r) => heard.push(["b", r]));
    removeB();
    c.abort("timeout");
    c.abort("again");
    expect(heard).toEqual([["a", "timeout"]]);
    expect(c.aborted).toBe(true);
    expect(c.reason).toBe("timeout");
  });

  test("a listener may remove itself or another while the cancellation runs them", () => {
    const c = new AttemptCancellation();
    const heard: string[] = [];
    let removeSelf = () => {};
    removeSelf = c.onAbort(() => {
      heard.push("first");
      removeSelf();
    });
    c.onAbort(() => heard.push("second"));
    c.abort("x");
    expect(heard).toEqual(["first", "second"]);
  });

  test("a listener that throws does not stop the others or reach the canceller", async () => {
    const c = new AttemptCancellation();
    const heard: string[] = [];
    c.onAbort(() => {
      throw new Error("listener bug");
    });
    c.onAbort(() => heard.push("second"));
    let reported: unknown[] = [];
    expect(() => (reported = reportedErrors(() => c.abort("x")))).not.toThrow();
    expect(heard).toEqual(["second"]);
    expect(reported.map((e) => (e as Error).message)).toEqual(["listener bug"]);
  });

  test("a signal read before the cancellation follows it, with the same reason", () => {
    const c = new AttemptCancellation();
    const signal = c.signal;
    expect(signal.aborted).toBe(false);
    const reason = Symbol("gone");
    c.abort(reason);
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe(reason);
    expect(c.signal).toBe(signal);
  });

  test("a signal first read after the cancellation is already aborted", () => {
    const c = new AttemptCancellation();
    c.abort("late");
    expect(c.signal.aborted).toBe(true);
    expect(c.signal.reason).toBe("late");
  });
});

describe("signalCancellation: a cancellation that follows an AbortSignal", () => {
  test("reports the signal's state and calls a listener until it is removed", () => {
    const controller = new AbortController();
    const c = signalCancellation(controller.signal);
    const heard: unknown[] = [];
    const remove = c.onAbort((r) => heard.push(r));
    const removed = c.onAbort(() => heard.push("removed"));
    removed();
    expect(c.aborted).toBe(false);
    controller.abort("probe timeout");
    expect(heard).toEqual(["probe timeout"]);
    expect(c.aborted).toBe(true);
    expect(c.reason).toBe("probe timeout");
    expect(c.signal).toBe(controller.signal);
    remove();
  });
});
