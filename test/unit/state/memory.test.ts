import { describe, expect, test } from "bun:test";
import { SnapshotCache } from "../../../src/state/cache.ts";
import { MemoryStateStore } from "../../../src/state/memory.ts";
import { describeStateStore } from "./conformance.ts";
import {
  emptyGroup,
  emptySnapshotData,
  groupDraft,
  type Snapshot,
  StateConflictError,
  StateStoreClosedError,
  updateWithRetry,
} from "../../../src/state/store.ts";

function store() {
  let now = 1_700_000_000_000;
  const clock = { advance: (ms: number) => (now += ms) };
  return { s: new MemoryStateStore({ now: () => now }), clock, now: () => now };
}

describe("memory state store", () => {
  test("starts empty at version 0; every write is version + 1 with its time", async () => {
    const { s, now } = store();
    const v0 = await s.load();
    expect(v0).toEqual({ ...emptySnapshotData(), version: 0, updatedAt: 0 });
    const v1 = await s.update((d) => {
      d.groups.app = emptyGroup();
      d.groups.app.drains["http://10.0.0.1:80"] = { deadline: now() + 300_000 };
    });
    expect(v1.version).toBe(1);
    expect(v1.updatedAt).toBe(now());
    expect((await s.load()).groups.app?.drains["http://10.0.0.1:80"]?.deadline).toBe(now() + 300_000);
    const v2 = await s.update((d) => ({ ...d, actions: { default: { forward: "green" } } }));
    expect(v2.version).toBe(2);
    expect(v2.groups.app).toBeDefined(); // the replacement kept the rest
    expect(v2.actions.default).toEqual({ forward: "green" });
  });

  test("compare-and-set refuses a stale version", async () => {
    const { s } = store();
    expect(await s.compareAndSet(0, { ...emptySnapshotData(), actions: { "10": { forward: "green" } } })).toMatchObject({ version: 1 });
    expect(await s.compareAndSet(0, emptySnapshotData())).toBeUndefined();
    expect((await s.load()).actions["10"]).toEqual({ forward: "green" });
  });

  test("concurrent updates do not lose writes: the loser reloads and reapplies", async () => {
    const { s } = store();
    let calls = 0;
    const bump = (key: string) => async () =>
      s.update((d) => {
        calls++;
        d.groups.app ??= emptyGroup();
        d.groups.app.weights[key] = (d.groups.app.weights[key] ?? 0) + 1;
      });
    const results = await Promise.all([bump("a")(), bump("b")(), bump("a")()]);
    const final = await s.load();
    expect(final.version).toBe(3);
    expect(final.groups.app!.weights).toEqual({ a: 2, b: 1 });
    expect(results.map((r) => r.version).sort()).toEqual([1, 2, 3]);
    expect(calls).toBeGreaterThan(3); // some mutator ran again after losing a race
  });

  test("a store that always loses the race fails loudly", async () => {
    const { s } = store();
    const racing = {
      load: () => s.load(),
      compareAndSet: async (v: number, next: ReturnType<typeof emptySnapshotData>) => {
        await s.compareAndSet(v, emptySnapshotData()); // someone else writes first
        return s.compareAndSet(v, next);
      },
    };
    await expect(updateWithRetry(racing, () => {}, 4)).rejects.toBeInstanceOf(StateConflictError);
  });

  test("snapshots are frozen: readers cannot change what others read", async () => {
    const { s } = store();
    await s.update((d) => {
      d.groups.app = emptyGroup();
    });
    const snap = await s.load();
    expect(() => {
      (snap.groups.app!.weights as Record<string, number>).x = 1;
    }).toThrow();
    // Mutating the data handed to compareAndSet afterwards does not leak in either.
    const data = emptySnapshotData();
    await s.compareAndSet(snap.version, data);
    data.actions.default = "changed";
    expect((await s.load()).actions).toEqual({});
  });

  test("subscribers see every write once, until they unsubscribe; a throwing subscriber breaks nothing", async () => {
    const errors: unknown[] = [];
    const s = new MemoryStateStore({ onSubscriberError: (e) => errors.push(e) });
    const seen: number[] = [];
    s.subscribe(() => {
      throw new Error("boom");
    });
    const off = s.subscribe((snap) => seen.push(snap.version));
    await s.update(() => {});
    await s.update(() => {});
    off();
    await s.update(() => {});
    expect(seen).toEqual([1, 2]);
    expect(errors.length).toBe(3);
  });

  test("leases: one holder at a time, renewable by the holder, free after expiry or release", async () => {
    const { s, clock } = store();
    expect(await s.tryAcquireLease("probe:app", "a", 10_000)).toBe(true);
    expect(await s.tryAcquireLease("probe:app", "b", 10_000)).toBe(false);
    expect(await s.tryAcquireLease("probe:other", "b", 10_000)).toBe(true);
    clock.advance(9_000);
    expect(await s.tryAcquireLease("probe:app", "a", 10_000)).toBe(true); // renewed until 19 s
    clock.advance(9_999);
    expect(await s.tryAcquireLease("probe:app", "b", 10_000)).toBe(false);
    clock.advance(1);
    expect(await s.tryAcquireLease("probe:app", "b", 10_000)).toBe(true);
    await s.releaseLease("probe:app", "a"); // not the holder: no effect
    expect(await s.tryAcquireLease("probe:app", "a", 10_000)).toBe(false);
    await s.releaseLease("probe:app", "b");
    expect(await s.tryAcquireLease("probe:app", "a", 10_000)).toBe(true);
  });

  test("a closed store refuses work", async () => {
    const { s } = store();
    await s.close();
    await expect(s.load()).rejects.toBeInstanceOf(StateStoreClosedError);
    await expect(s.update(() => {})).rejects.toBeInstanceOf(StateStoreClosedError);
    await expect(s.tryAcquireLease("x", "a", 1)).rejects.toBeInstanceOf(StateStoreClosedError);
    await expect(s.takeLease("x", "a", 1)).rejects.toBeInstanceOf(StateStoreClosedError);
  });

  test("started from a stored snapshot (an older version's, with forwardWeights): loads it without that field, persists every write before subscribers hear of it", async () => {
    const stored = {
      groups: {},
      forwardWeights: { "10": { blue: 90, green: 10 } },
      actions: { default: { forward: "green" } },
      version: 7,
      updatedAt: 5,
    } as unknown as Snapshot;
    const order: string[] = [];
    const s = new MemoryStateStore({ stored, persist: (w) => order.push(`persist ${w.version}`) });
    s.subscribe((w) => order.push(`subscriber ${w.version}`));
    const loaded = await s.load();
    expect(loaded).toEqual({ groups: {}, actions: { default: { forward: "green" } }, version: 7, updatedAt: 5 });
    expect(Object.isFrozen(loaded.actions)).toBe(true);
    const written = await s.update((d) => {
      groupDraft(d, "app").weights.x = 1;
    });
    expect(written.version).toBe(8);
    expect("forwardWeights" in written).toBe(false);
    expect(order).toEqual(["persist 8", "subscriber 8"]);
  });

  test("takeLease takes a lease whoever holds it; tryAcquireLease still refuses the others", async () => {
    const { s } = store();
    expect(await s.tryAcquireLease("probe:app", "isolate", 10_000)).toBe(true);
    expect(await s.takeLease("probe:app", "prober", 10_000)).toBe(true);
    expect(await s.tryAcquireLease("probe:app", "isolate", 10_000)).toBe(false);
    expect(await s.tryAcquireLease("probe:app", "prober", 10_000)).toBe(true);
  });
});

describe("snapshot cache", () => {
  test("reads synchronously, follows pushes, ignores stale snapshots, notifies once per version", async () => {
    const { s } = store();
    const cache = new SnapshotCache(s);
    expect(cache.get()).toBeUndefined();
    await cache.refresh();
    expect(cache.get()!.version).toBe(0);
    const changes: number[] = [];
    cache.onChange((snap: Snapshot) => changes.push(snap.version));
    await s.update((d) => {
      d.actions.default = { forward: "green" };
    });
    expect(cache.get()!.version).toBe(1);
    await cache.refresh(); // same version again: no notification
    expect(changes).toEqual([1]);
    cache.close();
    await s.update(() => {});
    expect(cache.get()!.version).toBe(1);
  });
});

describeStateStore("memory", async () => {
  let now = 1_700_000_000_000;
  const store = new MemoryStateStore({ now: () => now });
  return {
    store,
    elapse: async (ms) => {
      now += ms;
    },
    cleanup: () => store.close(),
  };
});
