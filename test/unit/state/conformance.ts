/**
 * The StateStore contract as one suite every store runs (memory, Redis on
 * each client, ...): what the balancer relies on whatever the backend.
 * `other` is a second client of the same backend (another balancer
 * instance); stores without one use `store` for both sides.
 */
import { describe, expect, test } from "bun:test";
import {
  CHANGE_LOG_SIZE,
  type ChangeEvent,
  emptyGroup,
  emptySnapshotData,
  groupDraft,
  type Snapshot,
  type StateStore,
  StateStoreClosedError,
} from "../../../src/state/store.ts";
import { REPORT_CASES } from "./reports-contract.ts";

export interface StoreUnderTest {
  store: StateStore;
  other?: StateStore;
  /** Let `ms` of lease and report time pass: a fake clock's advance, or a real wait for real backends. */
  elapse?(ms: number): Promise<void>;
  cleanup(): Promise<void>;
}

/** Wait (not a timing assertion: only a bound against hanging) until `check` holds. */
export async function eventually(what: string, check: () => boolean | Promise<boolean>, boundMs = 5000): Promise<void> {
  const until = Date.now() + boundMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function describeStateStore(name: string, make: () => Promise<StoreUnderTest>): void {
  async function withStores(body: (s: StateStore, o: StateStore, t: StoreUnderTest) => Promise<void>): Promise<void> {
    const t = await make();
    try {
      await body(t.store, t.other ?? t.store, t);
    } finally {
      await t.cleanup();
    }
  }

  describe(`${name}: StateStore contract`, () => {
    test("starts empty at version 0; each write is version + 1 with its time, read back by the other client", () =>
      withStores(async (s, o) => {
        expect(await s.load()).toEqual({ ...emptySnapshotData(), version: 0, updatedAt: 0 });
        const v1 = await s.update((d) => {
          d.groups.app = emptyGroup();
          d.groups.app.targets["http://10.0.0.1:80"] = { state: "healthy", since: 1, lastProbe: { ok: true, detail: "200", at: 2 } };
          d.groups.app.drains["http://10.0.0.2:80"] = { deadline: 3 };
        });
        expect(v1.version).toBe(1);
        expect(v1.updatedAt).toBeGreaterThan(0);
        const read = await o.load();
        expect(read).toEqual(v1);
        const v2 = await o.update((d) => ({ ...d, actions: { default: { forward: "green", nested: [1, null, "x"] } } }));
        expect(v2.version).toBe(2);
        expect(v2.groups.app?.drains["http://10.0.0.2:80"]).toEqual({ deadline: 3 }); // the replacement kept the rest
        expect((await s.load()).actions).toEqual({ default: { forward: "green", nested: [1, null, "x"] } });
      }));

    test("every field of a snapshot comes back: the reload count and the canaries too", () =>
      withStores(async (s, o) => {
        const canary = { plan: "{}", step: 1, weight: 25, state: "progressing" as const, since: 7, window: 3, reason: "step 1 passed" };
        await s.update((d) => {
          d.reloads = 4;
          d.canaries = { "10": canary };
        });
        const read = await o.load();
        expect(read.reloads).toBe(4);
        expect(read.canaries).toEqual({ "10": canary });
      }));

    test("compare-and-set refuses a stale version and leaves the winner's data", () =>
      withStores(async (s, o) => {
        const won = await s.compareAndSet(0, { ...emptySnapshotData(), actions: { "10": { forward: "green" } } });
        expect(won?.version).toBe(1);
        expect(await o.compareAndSet(0, emptySnapshotData())).toBeUndefined();
        expect(await s.compareAndSet(5, emptySnapshotData())).toBeUndefined();
        const now = await o.load();
        expect(now.version).toBe(1);
        expect(now.actions["10"]).toEqual({ forward: "green" });
      }));

    test("concurrent updates from two clients lose nothing", () =>
      withStores(async (s, o) => {
        const bump = (store: StateStore, key: string) =>
          store.update((d) => {
            d.groups.app ??= emptyGroup();
            d.groups.app.weights[key] = (d.groups.app.weights[key] ?? 0) + 1;
          });
        const writes = Array.from({ length: 12 }, (_, i) => bump(i % 2 ? s : o, i % 3 ? "a" : "b"));
        const results = await Promise.all(writes);
        const final = await s.load();
        expect(final.version).toBe(12);
        expect(final.groups.app!.weights).toEqual({ a: 8, b: 4 });
        expect(results.map((r) => r.version).sort((x, y) => x - y)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
      }));

    test("snapshots are frozen, and data passed to compare-and-set is copied", () =>
      withStores(async (s) => {
        await s.update((d) => {
          d.groups.app = emptyGroup();
        });
        const snap = await s.load();
        expect(Object.isFrozen(snap.groups.app!.weights)).toBe(true);
        expect(() => {
          (snap.groups.app!.weights as Record<string, number>).x = 1;
        }).toThrow();
        const data = emptySnapshotData();
        const written = await s.compareAndSet(snap.version, data);
        expect(Object.isFrozen(written)).toBe(true);
        data.actions.default = "changed";
        expect((await s.load()).actions).toEqual({});
      }));

    test("subscribers get newer snapshots written by the other client: each version once, in order, never an older one", () =>
      withStores(async (s, o) => {
        const seen: Snapshot[] = [];
        const off = s.subscribe((snap) => seen.push(snap));
        for (let i = 1; i <= 3; i++) {
          await o.update((d) => {
            groupDraft(d, "app").weights = { blue: 100 - i, green: i };
          });
        }
        await eventually("the subscriber saw version 3", () => seen.at(-1)?.version === 3);
        const versions = seen.map((x) => x.version);
        expect(versions).toEqual([...new Set(versions)].sort((a, b) => a - b)); // strictly increasing
        expect(seen.at(-1)!.groups.app?.weights).toEqual({ blue: 97, green: 3 });
        // Its own writes reach it too.
        await s.update((d) => {
          d.actions.default = { forward: "green" };
        });
        await eventually("the subscriber saw its own write", () => seen.at(-1)?.version === 4);
        off();
        // A subscriber that stays gets version 5 in the same delivery the removed one would have.
        const stayed: number[] = [];
        s.subscribe((snap) => stayed.push(snap.version));
        await o.update(() => {});
        await eventually("the remaining subscriber saw version 5", () => stayed.at(-1) === 5);
        expect(seen.at(-1)!.version).toBe(4);
      }));

    test("a throwing subscriber breaks neither writes nor the other subscribers", () =>
      withStores(async (s, o) => {
        const seen: number[] = [];
        s.subscribe(() => {
          throw new Error("boom");
        });
        s.subscribe((snap) => seen.push(snap.version));
        expect((await o.update(() => {})).version).toBe(1);
        expect((await s.update(() => {})).version).toBe(2);
        await eventually("version 2 reached the good subscriber", () => seen.at(-1) === 2);
      }));

    test("leases: one holder at a time across clients, renewable by the holder, released only by it", () =>
      withStores(async (s, o) => {
        expect(await s.tryAcquireLease("probe:app", "a", 10_000)).toBe(true);
        expect(await o.tryAcquireLease("probe:app", "b", 10_000)).toBe(false);
        expect(await o.tryAcquireLease("probe:other", "b", 10_000)).toBe(true);
        expect(await s.tryAcquireLease("probe:app", "a", 10_000)).toBe(true); // renewal
        expect(await o.tryAcquireLease("probe:app", "b", 10_000)).toBe(false);
        await o.releaseLease("probe:app", "b"); // not the holder: no effect
        expect(await o.tryAcquireLease("probe:app", "b", 10_000)).toBe(false);
        await s.releaseLease("probe:app", "a");
        expect(await o.tryAcquireLease("probe:app", "b", 10_000)).toBe(true);
        expect(await s.tryAcquireLease("probe:app", "a", 10_000)).toBe(false);
      }));

    test("leases expire: a holder that stops renewing loses it", () =>
      withStores(async (s, o, t) => {
        const elapse = t.elapse ?? sleep;
        expect(await s.tryAcquireLease("probe:app", "a", 100)).toBe(true);
        expect(await o.tryAcquireLease("probe:app", "b", 10_000)).toBe(false);
        await elapse(100);
        expect(await o.tryAcquireLease("probe:app", "b", 10_000)).toBe(true);
        expect(await s.tryAcquireLease("probe:app", "a", 100)).toBe(false);
      }));

    test("the change log: entries from both clients, oldest first, the newest CHANGE_LOG_SIZE kept", () =>
      withStores(async (s, o) => {
        const entry = (i: number): ChangeEvent => ({
          at: 1000 + i,
          instance: "a",
          source: "test",
          kind: "drain",
          subject: `app/t${i}`,
          after: { deadline: i },
        });
        expect(await s.recentEvents(10)).toEqual([]);
        await s.appendEvent(entry(1));
        await o.appendEvent(entry(2));
        expect(await o.recentEvents(10)).toEqual([entry(1), entry(2)]);
        expect(await s.recentEvents(1)).toEqual([entry(2)]);
        expect(await s.recentEvents(0)).toEqual([]);
        for (let i = 3; i <= CHANGE_LOG_SIZE + 5; i++) await s.appendEvent(entry(i));
        const all = await o.recentEvents(1000);
        expect(all.length).toBe(CHANGE_LOG_SIZE);
        expect(all[0]).toEqual(entry(6));
        expect(all.at(-1)).toEqual(entry(CHANGE_LOG_SIZE + 5));
      }));

    test("a closed store refuses work; the other client carries on", () =>
      withStores(async (s, o) => {
        await s.close();
        await expect(s.load()).rejects.toBeInstanceOf(StateStoreClosedError);
        await expect(s.update(() => {})).rejects.toBeInstanceOf(StateStoreClosedError);
        await expect(s.compareAndSet(0, emptySnapshotData())).rejects.toBeInstanceOf(StateStoreClosedError);
        await expect(s.tryAcquireLease("x", "a", 1000)).rejects.toBeInstanceOf(StateStoreClosedError);
        await expect(s.releaseLease("x", "a")).rejects.toBeInstanceOf(StateStoreClosedError);
        await expect(s.appendEvent({ at: 1, instance: "a", source: "test", kind: "reload", subject: "config" })).rejects.toBeInstanceOf(StateStoreClosedError);
        await s.close(); // twice is fine
        if (o !== s) expect((await o.update(() => {})).version).toBe(1);
      }));

    // Reports (reports-contract.ts, which Deno KV's suite runs too).
    for (const c of REPORT_CASES) test(c.name, () => withStores((s, o, t) => c.run(s, o, t.elapse ?? sleep)));
  });
}
