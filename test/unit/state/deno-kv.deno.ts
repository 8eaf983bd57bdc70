/**
 * The StateStore contract against a real Deno KV file (SQLite), run by
 * `deno test --unstable-kv` from deno-kv.test.ts, reports included
 * (reports-contract.ts, which conformance.ts runs for the other stores). Deno's sanitizers also fail
 * a test that leaves a watch stream, timer or KV handle open.
 */
import assert from "node:assert/strict";
import { DenoKvStateStore, type Kv, MAX_SNAPSHOT_BYTES, StateSnapshotTooLargeError } from "../../../src/state/deno-kv.ts";
import { CHANGE_LOG_SIZE, type ChangeEvent, emptyGroup, emptySnapshotData, type Snapshot, StateStoreClosedError } from "../../../src/state/store.ts";
import { REPORT_CASES } from "./reports-contract.ts";

declare const Deno: {
  test(name: string, fn: () => Promise<void>): void;
  makeTempDir(): Promise<string>;
  remove(path: string, options: { recursive: boolean }): Promise<void>;
  openKv(path: string): Promise<Kv>;
};

/** A fresh KV file per test; `open` gives another handle (another "instance") on the same file. */
type Open = (now?: () => number) => Promise<DenoKvStateStore>;
async function withKv(fn: (open: Open, path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/state.sqlite`;
  const stores: DenoKvStateStore[] = [];
  try {
    await fn(async (now) => {
      const store = new DenoKvStateStore(await Deno.openKv(path), { prefix: "test", now });
      stores.push(store);
      return store;
    }, path);
  } finally {
    for (const s of stores) await s.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function clock() {
  let now = 1_700_000_000_000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

Deno.test("starts empty at version 0; every write is version + 1 with its time; survives reopening", () =>
  withKv(async (open) => {
    const c = clock();
    const s = await open(c.now);
    assert.deepEqual(await s.load(), { ...emptySnapshotData(), version: 0, updatedAt: 0 });
    const v1 = await s.update((d) => {
      d.groups.app = emptyGroup();
      d.groups.app.drains["http://10.0.0.1:80"] = { deadline: c.now() + 300_000 };
    });
    assert.equal(v1.version, 1);
    assert.equal(v1.updatedAt, c.now());
    c.advance(5);
    const v2 = await s.update((d) => ({ ...d, actions: { default: { forward: "green" } } }));
    assert.deepEqual([v2.version, v2.updatedAt], [2, c.now()]);
    await s.close();
    const again = await (await open()).load();
    assert.deepEqual(again, v2);
    assert.equal(again.groups.app?.drains["http://10.0.0.1:80"]?.deadline, c.now() - 5 + 300_000);
  }));

Deno.test("compare-and-set refuses a stale version, from this handle or another", () =>
  withKv(async (open) => {
    const a = await open();
    const b = await open();
    assert.equal((await a.compareAndSet(0, { ...emptySnapshotData(), actions: { "10": { forward: "green" } } }))?.version, 1);
    assert.equal(await a.compareAndSet(0, emptySnapshotData()), undefined);
    assert.equal(await b.compareAndSet(0, emptySnapshotData()), undefined);
    assert.equal(await b.compareAndSet(5, emptySnapshotData()), undefined);
    assert.deepEqual((await b.load()).actions["10"], { forward: "green" });
  }));

Deno.test("concurrent updates from two handles lose nothing: losers reload and reapply", () =>
  withKv(async (open) => {
    const stores = [await open(), await open()];
    let calls = 0;
    const bump = (i: number) =>
      stores[i % 2]!.update((d) => {
        calls++;
        d.groups.app ??= emptyGroup();
        d.groups.app.weights[`t${i % 3}`] = (d.groups.app.weights[`t${i % 3}`] ?? 0) + 1;
      });
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => bump(i)));
    const final = await stores[0]!.load();
    assert.equal(final.version, 12);
    assert.deepEqual(final.groups.app!.weights, { t0: 4, t1: 4, t2: 4 });
    assert.deepEqual(results.map((r) => r.version).sort((x, y) => x - y), Array.from({ length: 12 }, (_, i) => i + 1));
    assert.ok(calls > 12, `some mutator ran again after losing a race (calls ${calls})`);
  }));

Deno.test("snapshots are frozen, and data handed to compare-and-set is copied", () =>
  withKv(async (open) => {
    const s = await open();
    await s.update((d) => {
      d.groups.app = emptyGroup();
    });
    const snap = await s.load();
    assert.throws(() => {
      (snap.groups.app!.weights as Record<string, number>).x = 1;
    });
    const data = emptySnapshotData();
    const written = await s.compareAndSet(snap.version, data);
    assert.ok(Object.isFrozen(written) && Object.isFrozen(written!.actions));
    data.actions.default = "changed";
    assert.deepEqual((await s.load()).actions, {});
  }));

Deno.test("subscribers get newer versions only (own writes and other handles' via watch), until they unsubscribe", () =>
  withKv(async (open, path) => {
    const writer = await open();
    const reader = await open();
    const errors: unknown[] = [];
    const watcher = new DenoKvStateStore(await Deno.openKv(path), { prefix: "test", onSubscriberError: (e) => errors.push(e) });
    try {
      const seen: number[] = [];
      let wake: () => void = () => {};
      watcher.subscribe(() => {
        throw new Error("boom");
      });
      const off = watcher.subscribe((snap: Snapshot) => {
        seen.push(snap.version);
        wake();
      });
      const next = () => new Promise<void>((resolve) => (wake = resolve));
      let arrived = next();
      await writer.update((d) => {
        d.actions.default = { forward: "green" };
      });
      await arrived; // the watch on another handle saw the write
      assert.deepEqual(seen.at(-1), 1);
      arrived = next();
      await writer.update(() => {});
      await arrived;
      // An older snapshot learned late (a slow load elsewhere) is not delivered.
      await reader.load();
      await watcher.load();
      assert.deepEqual(seen, [1, 2]);
      assert.ok(errors.length >= 2);
      off();
      await writer.update(() => {});
      await watcher.load(); // learns version 3, but nobody listens any more
      assert.deepEqual(seen, [1, 2]);
    } finally {
      await watcher.close();
    }
  }));

Deno.test("leases: one holder at a time across handles, renewable, free after expiry (expiresAt, not Deno's GC) or release", () =>
  withKv(async (open) => {
    const c = clock();
    const a = await open(c.now);
    const b = await open(c.now);
    assert.equal(await a.tryAcquireLease("probe:app", "a", 10_000), true);
    assert.equal(await b.tryAcquireLease("probe:app", "b", 10_000), false);
    assert.equal(await b.tryAcquireLease("probe:other", "b", 10_000), true);
    c.advance(9_000);
    assert.equal(await a.tryAcquireLease("probe:app", "a", 10_000), true); // renewed until 19 s
    c.advance(9_999);
    assert.equal(await b.tryAcquireLease("probe:app", "b", 10_000), false);
    c.advance(1);
    assert.equal(await b.tryAcquireLease("probe:app", "b", 10_000), true);
    await a.releaseLease("probe:app", "a"); // not the holder: no effect
    assert.equal(await a.tryAcquireLease("probe:app", "a", 10_000), false);
    await b.releaseLease("probe:app", "b");
    assert.equal(await a.tryAcquireLease("probe:app", "a", 10_000), true);
    await assert.rejects(a.tryAcquireLease("probe:app", "a", 0), RangeError);
  }));

Deno.test("racing acquirers of a free lease: exactly one wins", () =>
  withKv(async (open) => {
    const stores = await Promise.all([open(), open(), open(), open()]);
    const won = await Promise.all(stores.map((s, i) => s.tryAcquireLease("probe:app", `i${i}`, 10_000)));
    assert.equal(won.filter(Boolean).length, 1);
  }));

Deno.test("a snapshot over Deno KV's 64 KiB value limit fails clearly and changes nothing; one just under fits", () =>
  withKv(async (open) => {
    const s = await open();
    const withDetail = (bytes: number, char: string) => {
      const d = emptySnapshotData();
      d.actions.default = char.repeat(bytes);
      return d;
    };
    const overhead = JSON.stringify(withDetail(0, "x")).length;
    assert.equal((await s.compareAndSet(0, withDetail(MAX_SNAPSHOT_BYTES - overhead, "x")))?.version, 1);
    await assert.rejects(s.compareAndSet(1, withDetail(MAX_SNAPSHOT_BYTES - overhead + 1, "x")), StateSnapshotTooLargeError);
    // Characters outside Latin-1 take two bytes each in Deno KV's serialisation.
    await assert.rejects(s.compareAndSet(1, withDetail(MAX_SNAPSHOT_BYTES / 2, "€")), /over the \d+ bytes that fit in one Deno KV value/);
    assert.equal((await s.load()).version, 1);
  }));

Deno.test("a snapshot written by an older version (with forwardWeights) loads without it, and the next write leaves it out", () =>
  withKv(async (open, path) => {
    const old = { groups: {}, forwardWeights: { "10": { blue: 90, green: 10 } }, actions: { default: { forward: "green" } } };
    const kv = await Deno.openKv(path);
    await kv.atomic().set(["test", "snapshot"], { version: 3, updatedAt: 5, data: JSON.stringify(old) }).commit();
    const s = await open();
    assert.deepEqual(await s.load(), { groups: {}, actions: { default: { forward: "green" } }, version: 3, updatedAt: 5 });
    assert.equal((await s.update(() => {})).version, 4);
    const stored = (await kv.get<{ data: string }>(["test", "snapshot"])).value;
    kv.close();
    assert.deepEqual(JSON.parse(stored!.data), { groups: {}, actions: { default: { forward: "green" } } });
  }));

Deno.test("every field of a snapshot comes back from another handle: the reload count and the canaries too", () =>
  withKv(async (open) => {
    const [s, o] = [await open(), await open()];
    const canary = { plan: "{}", step: 1, weight: 25, state: "progressing" as const, since: 7, window: 3 };
    await s.update((d) => {
      d.reloads = 4;
      d.canaries = { "10": canary };
    });
    const read = await o.load();
    assert.equal(read.reloads, 4);
    assert.deepEqual(read.canaries, { "10": canary });
  }));

Deno.test("a foreign value at the snapshot key is a clear error", () =>
  withKv(async (open, path) => {
    const kv = await Deno.openKv(path);
    await kv.atomic().set(["test", "snapshot"], "not a snapshot").commit();
    kv.close();
    await assert.rejects((await open()).load(), /is not a Fulcrum snapshot/);
  }));

Deno.test("the change log: entries from two handles, oldest first, the newest CHANGE_LOG_SIZE kept", () =>
  withKv(async (open) => {
    const [a, b] = [await open(), await open()];
    const entry = (i: number): ChangeEvent => ({ at: 1000 + i, instance: "a", source: "test", kind: "weight", subject: `app/t${i}`, after: i });
    await a.appendEvent(entry(1));
    await b.appendEvent(entry(2));
    assert.deepEqual(await b.recentEvents(10), [entry(1), entry(2)]);
    assert.deepEqual(await a.recentEvents(1), [entry(2)]);
    for (let i = 3; i <= CHANGE_LOG_SIZE + 5; i++) await a.appendEvent(entry(i));
    const all = await b.recentEvents(1000);
    assert.equal(all.length, CHANGE_LOG_SIZE);
    assert.deepEqual([all[0], all.at(-1)], [entry(6), entry(CHANGE_LOG_SIZE + 5)]);
  }));

Deno.test("a closed store refuses work", () =>
  withKv(async (open) => {
    const s = await open();
    s.subscribe(() => {});
    await s.close();
    await assert.rejects(s.load(), StateStoreClosedError);
    await assert.rejects(s.update(() => {}), StateStoreClosedError);
    await assert.rejects(s.tryAcquireLease("x", "a", 1), StateStoreClosedError);
    assert.throws(() => s.subscribe(() => {}), StateStoreClosedError);
  }));

// The reports contract, two handles on one file sharing a fake clock (Deno KV's own expireIn is real time, and lazy).
for (const c of REPORT_CASES) {
  Deno.test(c.name, () =>
    withKv(async (open) => {
      const clock = (() => {
        let now = Date.now();
        return { now: () => now, advance: (ms: number) => (now += ms) };
      })();
      await c.run(await open(clock.now), await open(clock.now), async (ms) => void clock.advance(ms));
    }));
}

Deno.test("reports: one key per instance; one over a value's limit is kept in parts, which go when it is replaced, and is read whole even while replaced", () =>
  withKv(async (open, path) => {
    const writer = await open();
    const kv = await Deno.openKv(path);
    // A reader whose first getMany lets the writer replace the report first: it then holds the head of a replaced report.
    let replaceFirst: (() => Promise<void>) | undefined;
    const racing: Kv = {
      get: (key) => kv.get(key),
      getMany: async (keys) => {
        const replace = replaceFirst;
        replaceFirst = undefined;
        await replace?.();
        return kv.getMany(keys);
      },
      set: (key, value) => kv.set(key, value),
      delete: (key) => kv.delete(key),
      list: (selector, options) => kv.list(selector, options),
      atomic: () => kv.atomic(),
      watch: (keys) => kv.watch(keys),
      close: () => kv.close(),
    };
    const reader = new DenoKvStateStore(racing, { prefix: "test" });
    try {
      const parts = async () => {
        const keys: unknown[][] = [];
        for await (const e of kv.list({ prefix: ["test", "report-parts", "canary", "a"] })) keys.push([...e.key]);
        return keys;
      };
      await writer.report("canary", "a", { n: 1 }, 60_000);
      const head = (await kv.get<{ expiresAt: number; text: string }>(["test", "reports", "canary", "a"])).value;
      assert.equal(head?.text, '{"n":1}');
      assert.equal(typeof head?.expiresAt, "number");
      assert.deepEqual(await parts(), []);
      const first = "€".repeat(70_000); // 140 kB in V8's serialisation: three pieces
      await writer.report("canary", "a", first, 60_000);
      const firstParts = await parts();
      assert.equal(firstParts.length, 2);
      assert.ok((await reader.reports("canary")).a === first);
      const second = "x".repeat(100_000);
      replaceFirst = () => writer.report("canary", "a", second, 60_000);
      assert.ok((await reader.reports("canary")).a === second, "the reader read the new report, not a mix of the two");
      const secondParts = await parts();
      assert.equal(secondParts.length, 3);
      assert.ok(secondParts.every((k) => k[4] !== firstParts[0]![4]), "the replaced report's parts are gone");
      await writer.report("canary", "a", "small", 60_000);
      assert.deepEqual(await parts(), []);
      assert.deepEqual(await reader.reports("canary"), { a: "small" });
    } finally {
      await reader.close();
    }
  }));
