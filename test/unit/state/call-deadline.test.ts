/**
 * The deadline on Deno KV store calls, without Deno: calls past `timeoutMs`
 * reject, new calls reject at once while one past its deadline is still
 * pending (until STUCK_LIMIT_TIMEOUTS deadlines have passed), and errors are
 * mapped. deno-kv.test.ts covers the same against a locked real KV file.
 */
import { describe, expect, test } from "bun:test";
import { CallDeadline, type CallState, STUCK_LIMIT_TIMEOUTS } from "../../../src/state/call-deadline.ts";
import { StateStoreClosedError } from "../../../src/state/store.ts";

class Unavailable extends Error {}
class Mistake extends Error {}

function deadline(timeoutMs = 20) {
  let now = 1_700_000_000_000;
  let closed = false;
  const d = new CallDeadline({
    timeoutMs,
    now: () => now,
    isClosed: () => closed,
    unavailable: (message, options) => new Unavailable(`store: ${message}`, options),
    passesThrough: (error) => error instanceof Mistake,
  });
  return { d, advance: (ms: number) => (now += ms), close: () => (closed = true) };
}

/** An operation that settles when told to, recording the state it was given. */
function pending<T>() {
  let settle: { resolve: (v: T) => void; reject: (e: unknown) => void } = { resolve: () => {}, reject: () => {} };
  const calls: CallState[] = [];
  const op = (state: CallState) => {
    calls.push(state);
    return new Promise<T>((resolve, reject) => (settle = { resolve, reject }));
  };
  return { op, calls, resolve: (v: T) => settle.resolve(v), reject: (e: unknown) => settle.reject(e) };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("call deadline", () => {
  test("a call that answers in time resolves with its value; its state is never abandoned", async () => {
    const { d } = deadline();
    const p = pending<number>();
    const result = d.run("load", p.op);
    p.resolve(7);
    expect(await result).toBe(7);
    expect(p.calls[0]?.abandoned).toBe(false);
  });

  test("errors are wrapped as unavailable with the cause, except those that pass through and any once closed", async () => {
    const { d, close } = deadline();
    const boom = new Error("database is locked");
    const wrapped = await d.run("compareAndSet", () => Promise.reject(boom)).catch((e: unknown) => e);
    expect(wrapped).toBeInstanceOf(Unavailable);
    expect((wrapped as Error).message).toBe("store: compareAndSet: database is locked");
    expect((wrapped as Error).cause).toBe(boom);
    expect(await d.run("load", () => Promise.reject("text")).catch((e: Error) => e.message)).toBe("store: load: text");
    const mistake = new Mistake("ttl");
    expect(await d.run("tryAcquireLease", () => Promise.reject(mistake)).catch((e: unknown) => e)).toBe(mistake);

    const p = pending<void>();
    const running = d.run("load", p.op);
    close();
    p.reject(boom);
    expect(await running.catch((e: unknown) => e)).toBe(boom);
    await expect(d.run("load", async () => 1)).rejects.toBeInstanceOf(StateStoreClosedError);
  });

  test("past the deadline: rejects, abandons the call, and refuses new calls at once until the stuck call settles", async () => {
    const { d } = deadline(20);
    const stuck = pending<number>();
    const late = d.run("load", stuck.op);
    await expect(late).rejects.toThrow("store: load: no answer within 20 ms (database locked or unreachable)");
    expect(stuck.calls[0]?.abandoned).toBe(true);

    let ran = false;
    await expect(d.run("releaseLease", async () => void (ran = true))).rejects.toThrow(
      "store: releaseLease: the database has not answered an earlier call yet (locked or unreachable)",
    );
    expect(ran).toBe(false);

    stuck.resolve(1); // its answer goes nowhere, but the store is usable again
    await tick();
    expect(await d.run("load", async () => 2)).toBe(2);
  });

  test("a call that never settles refuses new calls only for STUCK_LIMIT_TIMEOUTS deadlines", async () => {
    const { d, advance } = deadline(20);
    await expect(d.run("load", () => new Promise<never>(() => {}))).rejects.toThrow("no answer within 20 ms");
    advance(STUCK_LIMIT_TIMEOUTS * 20 - 1);
    await expect(d.run("load", async () => 1)).rejects.toThrow("has not answered an earlier call yet");
    advance(1);
    expect(await d.run("load", async () => 1)).toBe(1);
  });

  test("a failure after the deadline is not reported again", async () => {
    const { d } = deadline(20);
    const stuck = pending<number>();
    await expect(d.run("load", stuck.op)).rejects.toThrow("no answer within 20 ms");
    stuck.reject(new Error("late failure"));
    await tick();
    expect(await d.run("load", async () => 3)).toBe(3);
  });
});
