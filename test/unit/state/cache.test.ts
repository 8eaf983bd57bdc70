import { expect, test } from "bun:test";
import { SnapshotCache } from "../../../src/state/cache.ts";
import { MemoryStateStore } from "../../../src/state/memory.ts";
import { emptySnapshotData } from "../../../src/state/store.ts";

test("the cache follows a store that lost its data (versions restart from 1) and ignores reads of the empty store", async () => {
  let now = 1_000;
  let store = new MemoryStateStore({ now: () => now });
  const proxy = { current: store };
  // The cache subscribes once; give it a store whose backing can be swapped like a restarted Redis.
  const facade = {
    load: () => proxy.current.load(),
    compareAndSet: (v: number, d: ReturnType<typeof emptySnapshotData>) => proxy.current.compareAndSet(v, d),
    update: (m: Parameters<MemoryStateStore["update"]>[0]) => proxy.current.update(m),
    subscribe: () => () => {},
    tryAcquireLease: () => Promise.resolve(true),
    releaseLease: () => Promise.resolve(),
    appendEvent: () => Promise.resolve(),
    recentEvents: () => Promise.resolve([]),
    report: () => Promise.resolve(),
    reports: () => Promise.resolve({}),
    close: () => Promise.resolve(),
  };
  const cache = new SnapshotCache(facade);
  for (let i = 0; i < 3; i++) {
    now += 10;
    await store.update((d) => void (d.actions.default = { forward: `v${i}` }));
  }
  const stale = await store.load();
  expect(stale.version).toBe(3);
  await cache.refresh();
  expect(cache.get()!.version).toBe(3);
  // The backend restarts empty; one write later the cache must take version 1.
  store = proxy.current = new MemoryStateStore({ now: () => now });
  await cache.refresh();
  expect(cache.get()!.version).toBe(3); // the empty store (version 0, time 0) is not newer
  now += 10;
  await store.update((d) => void (d.actions.default = { forward: "after-restart" }));
  await cache.refresh();
  expect(cache.get()!.actions.default).toEqual({ forward: "after-restart" });
  // A late read of the empty store (version 0, time 0) does not undo it.
  cache.offer(await new MemoryStateStore().load());
  expect(cache.get()!.actions.default).toEqual({ forward: "after-restart" });
});

test("a listener that throws is reported and does not keep the snapshot from the others", async () => {
  const store = new MemoryStateStore();
  const errors: unknown[] = [];
  const cache = new SnapshotCache(store, (e) => errors.push(e));
  const seen: number[] = [];
  cache.onChange(() => {
    throw new Error("boom");
  });
  cache.onChange((s) => seen.push(s.version));
  await store.update((d) => void (d.actions.default = { forward: "x" }));
  expect(seen).toEqual([1]);
  expect(errors.map((e) => (e as Error).message)).toEqual(["boom"]);
});
