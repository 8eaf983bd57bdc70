import { describe, expect, test } from "bun:test";
import { attemptAbort, CLIENT_GONE, TIMEOUT, WATCH_CLIENT_AFTER_MS } from "../../src/proxy/attempt-abort.ts";

/** A manual clock whose deadlines fire exactly when `advance` passes them. */
function clock() {
  let t = 0;
  const pending = new Set<{ at: number; fire: () => void }>();
  return {
    now: () => t,
    timer(ms: number, fire: () => void) {
      const p = { at: t + ms, fire };
      pending.add(p);
      return () => void pending.delete(p);
    },
    advance(ms: number) {
      const end = t + ms;
      for (;;) {
        const due = [...pending].filter((p) => p.at <= end).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        pending.delete(due);
        t = due.at;
        due.fire();
      }
      t = end;
    },
    get timers() {
      return pending.size;
    },
  };
}

/** A client request whose `signal` counts how often it is read, and whose client can leave. */
function client() {
  const gone = new AbortController();
  const seen = { signalReads: 0 };
  const request = {
    get signal() {
      seen.signalReads++;
      return gone.signal;
    },
  } as unknown as Request;
  return { request, seen, leave: () => gone.abort() };
}

describe("attemptAbort: response timeout and client watch of one attempt", () => {
  test("an attempt answered before the watch starts never reads the client's signal", () => {
    const c = clock();
    const { request, seen } = client();
    const a = attemptAbort(c, request, 60_000);
    c.advance(WATCH_CLIENT_AFTER_MS - 1);
    a.settle();
    c.advance(120_000);
    expect(seen.signalReads).toBe(0);
    expect(a.cancellation.aborted).toBe(false);
    expect(c.timers).toBe(0);
  });

  test("a client that leaves during a slow attempt aborts it with CLIENT_GONE", () => {
    const c = clock();
    const { request, leave } = client();
    const a = attemptAbort(c, request, 60_000);
    c.advance(WATCH_CLIENT_AFTER_MS + 500);
    expect(a.cancellation.aborted).toBe(false);
    leave();
    expect(a.cancellation.aborted).toBe(true);
    expect(a.cancellation.reason).toBe(CLIENT_GONE);
  });

  test("a client that left before the watch started is seen when it starts", () => {
    const c = clock();
    const { request, leave } = client();
    const a = attemptAbort(c, request, 60_000);
    leave();
    c.advance(WATCH_CLIENT_AFTER_MS - 1);
    expect(a.cancellation.aborted).toBe(false);
    c.advance(1);
    expect(a.cancellation.reason).toBe(CLIENT_GONE);
    expect(c.timers).toBe(0);
  });

  test("the timeout counts from the start of the attempt, not from the watch", () => {
    const c = clock();
    const { request } = client();
    const a = attemptAbort(c, request, 1_000);
    c.advance(999);
    expect(a.cancellation.aborted).toBe(false);
    c.advance(1);
    expect(a.cancellation.reason).toBe(TIMEOUT);
  });

  test("a timeout shorter than the watch delay fires without ever reading the signal", () => {
    const c = clock();
    const { request, seen } = client();
    const a = attemptAbort(c, request, 10);
    c.advance(10);
    expect(a.cancellation.reason).toBe(TIMEOUT);
    expect(seen.signalReads).toBe(0);
  });

  test("a streamed upload: the client is watched at once, the timeout starts once the body is sent", async () => {
    const c = clock();
    const { request, seen, leave } = client();
    let sent!: () => void;
    const a = attemptAbort(c, request, 1_000, new Promise<void>((r) => (sent = r)));
    expect(seen.signalReads).toBe(1);
    c.advance(5_000); // a long upload is not a slow target
    expect(a.cancellation.aborted).toBe(false);
    sent();
    await Promise.resolve();
    c.advance(999);
    expect(a.cancellation.aborted).toBe(false);
    c.advance(1);
    expect(a.cancellation.reason).toBe(TIMEOUT);
    leave(); // too late to change the reason
    expect(a.cancellation.reason).toBe(TIMEOUT);
  });

  test("settle stops the watch: a client leaving afterwards aborts nothing", () => {
    const c = clock();
    const { request, leave } = client();
    const a = attemptAbort(c, request, 60_000);
    c.advance(WATCH_CLIENT_AFTER_MS);
    a.settle();
    leave();
    c.advance(120_000);
    expect(a.cancellation.aborted).toBe(false);
    expect(c.timers).toBe(0);
  });
});
