/** Token buckets: refill, burst, Retry-After, the LRU bound, and what sharing takes and gives. */
import { expect, test } from "bun:test";
import { TokenBuckets } from "../../../src/ratelimit/buckets.ts";
import { SharedCounts } from "../../../src/ratelimit/sharing.ts";
import { MemoryStateStore } from "../../../src/state/memory.ts";

/** 2 requests per second, bursts of 4. */
const perSecond = (n: number) => n / 1000;

test("a bucket starts full, empties, and refills at the rate; Retry-After is when the next token comes", () => {
  const b = new TokenBuckets(perSecond(2), 4, 100);
  const verdicts = [0, 0, 0, 0, 0].map(() => b.take("k", 0));
  expect(verdicts.map((v) => v.allowed)).toEqual([true, true, true, true, false]);
  expect(verdicts.map((v) => v.remaining)).toEqual([3, 2, 1, 0, 0]);
  expect(verdicts[4]!.retryAfter).toBeCloseTo(0.5);
  expect(verdicts[3]!.reset).toBeCloseTo(2);
  // Half a second later, one token.
  expect(b.take("k", 500).allowed).toBe(true);
  expect(b.take("k", 500).allowed).toBe(false);
  // Idle for long, never more than the burst.
  expect([0, 0, 0, 0, 0].map(() => b.take("k", 60_000).allowed)).toEqual([true, true, true, true, false]);
});

test("keys are independent, and past maxKeys the least recently seen is forgotten", () => {
  const b = new TokenBuckets(perSecond(1), 1, 2);
  expect(b.take("a", 0).allowed).toBe(true);
  expect(b.take("b", 0).allowed).toBe(true);
  expect(b.take("a", 0).allowed).toBe(false); // a is now the most recent
  expect(b.take("c", 0).allowed).toBe(true); // b goes
  expect(b.size).toBe(2);
  expect(b.take("a", 0).allowed).toBe(false);
  expect(b.take("b", 0).allowed).toBe(true); // forgotten: a full bucket again
});

test("sharing: what one instance's keys took comes off the other's buckets, each window once, and overspending is waited for", async () => {
  const store = new MemoryStateStore();
  const a = new TokenBuckets(perSecond(1), 10, 100, true);
  const b = new TokenBuckets(perSecond(1), 10, 100, true);
  const now = () => 0;
  const sa = new SharedCounts(a, store, "ratelimit t", "A", 1000, () => {});
  const sb = new SharedCounts(b, store, "ratelimit t", "B", 1000, () => {});
  for (let i = 0; i < 6; i++) a.take("k", 0);
  await sa.sync(now);
  await sb.sync(now);
  // B learnt A's 6: 4 left.
  expect([0, 0, 0, 0, 0].map(() => b.take("k", 0).allowed)).toEqual([true, true, true, true, false]);
  await sb.sync(now);
  await sa.sync(now);
  // A learnt B's 4: none left. And A's own window, read again, is not taken twice by B.
  expect(a.take("k", 0).allowed).toBe(false);
  await sb.sync(now);
  expect(b.take("k", 1000).allowed).toBe(true);
  // Both spent 10 more each at once: each waits for both.
  const c = new TokenBuckets(perSecond(1), 10, 100, true);
  const sc = new SharedCounts(c, store, "ratelimit u", "C", 1000, () => {});
  const d = new TokenBuckets(perSecond(1), 10, 100, true);
  const sd = new SharedCounts(d, store, "ratelimit u", "D", 1000, () => {});
  for (let i = 0; i < 10; i++) c.take("k", 0), d.take("k", 0);
  await sc.sync(now);
  await sd.sync(now);
  await sc.sync(now);
  expect(c.take("k", 9_000).allowed).toBe(false);
  expect(c.take("k", 11_000).allowed).toBe(true);
});

test("sharing: a store that fails is logged once, the limit goes on counting alone, and its return is logged", async () => {
  const store = new MemoryStateStore();
  const lines: string[] = [];
  let broken = true;
  const flaky = {
    report: (...args: Parameters<MemoryStateStore["report"]>) => (broken ? Promise.reject(new Error("down")) : store.report(...args)),
    reports: (topic: string) => store.reports(topic),
  };
  const b = new TokenBuckets(perSecond(1), 2, 100, true);
  const s = new SharedCounts(b, flaky, "ratelimit t", "A", 1000, (l) => lines.push(l));
  await s.sync(() => 0);
  await s.sync(() => 0);
  expect(b.take("k", 0).allowed).toBe(true);
  broken = false;
  await s.sync(() => 0);
  expect(lines.length).toBe(2);
  expect(lines[0]).toContain("counting on this instance alone until it works: down");
  expect(lines[1]).toContain("answers again");
});

test("limiters: a reload that keeps a limit keeps its buckets; due() tells counts taken after the last exchange once their interval has passed", async () => {
  const { RateLimiters } = await import("../../../src/ratelimit/limiters.ts");
  const store = new MemoryStateStore();
  let now = 0;
  const timers: (() => void)[] = [];
  const deps = (instance: string) => ({
    store: () => store,
    instance,
    now: () => now,
    timer: (_ms: number, fire: () => void) => (timers.push(fire), () => {}),
    log: () => {},
  });
  const config = { requests: 10, per: 600, key: { source: "client_ip" as const }, shared: true, syncInterval: 1, maxKeys: 100 };
  const a = new RateLimiters(deps("A"));
  const b = new RateLimiters(deps("B"));
  const la = a.select([["default", config]]).get("default")!;
  const lb = b.select([["default", config]]).get("default")!;
  expect(a.select([["default", config]]).get("default")).toBe(la);
  expect(a.select([["default", { ...config, requests: 11 }]]).get("default")).not.toBe(la);
  a.select([["default", config]]);
  // A changed limit started afresh; the unchanged one is a new object now too (it was dropped in between).
  const la2 = a.select([["default", config]]).get("default")!;
  await a.due();
  await b.due();
  for (let i = 0; i < 6; i++) la2.buckets.take("ip 1", now);
  // Not due for a second: the work waits on the timer.
  const pending = a.due()!;
  expect(pending).toBeDefined();
  now = 1000;
  timers.shift()!();
  await pending;
  now = 1500;
  await b.due();
  expect([0, 0, 0, 0, 0].map(() => lb.buckets.take("ip 1", now).allowed)).toEqual([true, true, true, true, false]);
});
