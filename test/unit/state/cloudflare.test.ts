/**
 * The Cloudflare store against the real thing: workerd through Miniflare, a
 * real SQLite-backed Durable Object, real alarms. No mocks.
 *
 * - The store contract through the object, from Bun via Miniflare's
 *   namespace proxy (the same CloudflareStateStore isolates use).
 * - Two Workers (two isolates) sharing one object see each other's writes
 *   within cacheTtl and lose none of them.
 * - The real Worker bundle, two instances on one object: the object's alarm
 *   probes a loopback upstream once per interval whatever the traffic.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import { createServer, type Server } from "node:http";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { workerBuildOptions } from "../../../src/cli/build.ts";
import { COMPATIBILITY_DATE, COMPATIBILITY_FLAGS, startWorkerd, type WorkerdInstances } from "../../../src/cli/serve-workerd.ts";
import { CloudflareStateStore, type DurableObjectNamespaceLike } from "../../../src/state/cloudflare.ts";
import { defineFulcrumState, type DurableObjectContext } from "../../../src/runtimes/workerd/durable-object.ts";
import { emptyGroup, emptySnapshotData, type StateStore, StateStoreClosedError } from "../../../src/state/store.ts";
import { describeStateStore } from "./conformance.ts";
import { freePort } from "../../e2e/launch.ts";

const ROOT = join(import.meta.dir, "..", "..", "..");
const OFFLINE = { WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true" };
Object.assign(process.env, OFFLINE);

let mf: Miniflare;
let namespace: DurableObjectNamespaceLike;
let env: Record<string, unknown>;

async function bundleFixture(): Promise<string> {
  const outfile = join(mkdtempSync(join(tmpdir(), "fulcrum-cf-")), "worker.mjs");
  await build({
    ...workerBuildOptions(ROOT),
    entryPoints: [join(import.meta.dir, "cloudflare-fixture-worker.ts")],
    outfile,
    logLevel: "error",
  });
  return outfile;
}

beforeAll(async () => {
  const script = await bundleFixture();
  const worker = (name: string, host?: string) => ({
    name,
    modulesRoot: "/",
    modules: [{ type: "ESModule" as const, path: script }],
    compatibilityDate: COMPATIBILITY_DATE,
    compatibilityFlags: COMPATIBILITY_FLAGS,
    durableObjects: {
      // Worker "b" binds the class of worker "a": one object per name for both isolates.
      FULCRUM_STATE: { className: "FulcrumState", useSQLite: true, ...(host ? { scriptName: host } : {}) },
      THROWING: { className: "Throwing", useSQLite: true, ...(host ? { scriptName: host } : {}) },
      SILENT: { className: "Silent", useSQLite: true, ...(host ? { scriptName: host } : {}) },
    },
  });
  mf = new Miniflare({ workers: [worker("a"), worker("b", "a")] });
  await mf.ready;
  env = { FULCRUM_STATE: await mf.getDurableObjectNamespace("FULCRUM_STATE", "a") };
  namespace = env.FULCRUM_STATE as DurableObjectNamespaceLike;
}, 60_000);

afterAll(async () => {
  await mf?.dispose();
});

let prefixes = 0;
/** A store on a fresh object (its own prefix), as an isolate would open it. */
function store(cacheTtl = 1, prefix = `t${++prefixes}`, options = {}) {
  return new CloudflareStateStore({ store: "cloudflare", durableObject: "FULCRUM_STATE", prefix, cacheTtl }, env, options);
}

describe("cloudflare store: the contract through the Durable Object", () => {
  test("a new object starts empty at version 0; every write is version + 1", async () => {
    const s = store();
    expect(await s.load()).toEqual({ ...emptySnapshotData(), version: 0, updatedAt: 0 });
    const before = Date.now();
    const v1 = await s.update((d) => {
      d.groups.app = emptyGroup();
      d.groups.app.drains["http://10.0.0.1:80"] = { deadline: 123 };
    });
    expect(v1.version).toBe(1);
    expect(v1.updatedAt).toBeGreaterThanOrEqual(before - 1000); // the object's wall clock, not ours
    expect((await s.load()).groups.app?.drains["http://10.0.0.1:80"]).toEqual({ deadline: 123 });
    expect((await s.update((d) => ({ ...d, actions: { default: { forward: "green" } } }))).version).toBe(2);
    // Another store (another isolate) on the same prefix reads what was written.
    const other = new CloudflareStateStore({ store: "cloudflare", durableObject: "FULCRUM_STATE", prefix: `t${prefixes}`, cacheTtl: 1 }, env);
    expect(await other.load()).toMatchObject({ version: 2, actions: { default: { forward: "green" } } });
  });

  test("compare-and-set refuses a stale version and keeps what won", async () => {
    const s = store();
    expect(await s.compareAndSet(0, { ...emptySnapshotData(), actions: { "10": { forward: "green" } } })).toMatchObject({ version: 1 });
    expect(await s.compareAndSet(0, emptySnapshotData())).toBeUndefined();
    expect((await s.load()).actions["10"]).toEqual({ forward: "green" });
  });

  test("concurrent updates from several stores on one object lose nothing", async () => {
    const prefix = `t${++prefixes}`;
    // cacheTtl 60: every store answers loads from its local copy, so each update starts stale and must retry.
    const stores = [store(60, prefix), store(60, prefix), store(60, prefix)];
    await Promise.all(stores.map((s) => s.load()));
    let calls = 0;
    const bump = (s: CloudflareStateStore, key: string) =>
      s.update((d) => {
        calls++;
        d.groups.app ??= emptyGroup();
        d.groups.app.weights[key] = (d.groups.app.weights[key] ?? 0) + 1;
      });
    const writes = await Promise.all(stores.flatMap((s, i) => [bump(s, "a"), bump(s, i === 0 ? "b" : "a")]));
    expect(writes.map((w) => w.version).sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6]);
    const final = await store(1, prefix).load();
    expect(final.version).toBe(6);
    expect(final.groups.app!.weights).toEqual({ a: 5, b: 1 });
    expect(calls).toBeGreaterThan(6); // losers reloaded and applied their change again
  });

  test("subscribers hear of every newer version a load or a write brings, once", async () => {
    const prefix = `t${++prefixes}`;
    const reader = store(0.1, prefix);
    const writer = store(1, prefix);
    const seen: number[] = [];
    reader.subscribe((s) => seen.push(s.version));
    await reader.load();
    await writer.update(() => {});
    await writer.update(() => {});
    await Bun.sleep(150); // past the reader's TTL: its next load goes to the object
    await reader.load();
    await reader.load();
    await reader.update(() => {});
    expect(seen).toEqual([0, 2, 3]);
  });

  test("snapshots are frozen", async () => {
    const s = store();
    await s.update((d) => {
      d.groups.app = emptyGroup();
    });
    const snap = await s.load();
    expect(() => {
      (snap.groups.app!.weights as Record<string, number>).x = 1;
    }).toThrow();
  });

  test("leases: one holder at a time, renewable by the holder, free after expiry or release", async () => {
    const prefix = `t${++prefixes}`;
    const [a, b] = [store(1, prefix), store(1, prefix)];
    expect(await a.tryAcquireLease("probe:app", "a", 60_000)).toBe(true);
    expect(await b.tryAcquireLease("probe:app", "b", 60_000)).toBe(false);
    expect(await b.tryAcquireLease("probe:other", "b", 60_000)).toBe(true);
    expect(await a.tryAcquireLease("probe:app", "a", 60_000)).toBe(true); // renewed
    await b.releaseLease("probe:app", "b"); // not the holder: no effect
    expect(await b.tryAcquireLease("probe:app", "b", 60_000)).toBe(false);
    await a.releaseLease("probe:app", "a");
    expect(await b.tryAcquireLease("probe:app", "b", 200)).toBe(true);
    expect(await a.tryAcquireLease("probe:app", "a", 60_000)).toBe(false);
    await Bun.sleep(300); // b's 200 ms lease has expired
    expect(await a.tryAcquireLease("probe:app", "a", 60_000)).toBe(true);
  });

  test("an object that lost its storage (counts from 0 again) is followed, not fought over", async () => {
    // A real object per generation: bumping it points the same prefix at a fresh object, as a
    // restarted local workerd (in-memory storage) presents an empty one under the same name.
    let generation = 0;
    const resetting: DurableObjectNamespaceLike = {
      idFromName: (name) => namespace.idFromName(`${name}-generation${generation}`),
      get: (id) => namespace.get(id),
    };
    const prefix = `t${++prefixes}`;
    const s = new CloudflareStateStore({ store: "cloudflare", durableObject: "FULCRUM_STATE", prefix, cacheTtl: 60 }, { FULCRUM_STATE: resetting });
    const seen: number[] = [];
    s.subscribe((snap) => seen.push(snap.version));
    for (let i = 0; i < 3; i++) await s.update(() => {});
    generation++;
    // The local copy says version 3; the object says 0. The write must land on the object's 0, not lose forever.
    const written = await s.update((d) => {
      d.groups.app = emptyGroup();
      d.groups.app.weights.x = 1;
    });
    expect(written.version).toBe(1);
    expect((await s.load()).groups.app?.weights).toEqual({ x: 1 });
    expect(seen).toEqual([0, 1, 2, 3, 0, 1]);
  });

  test("a closed store refuses work", async () => {
    const s = store();
    await s.close();
    await expect(s.load()).rejects.toBeInstanceOf(StateStoreClosedError);
    await expect(s.update(() => {})).rejects.toBeInstanceOf(StateStoreClosedError);
    await expect(s.tryAcquireLease("x", "a", 1)).rejects.toBeInstanceOf(StateStoreClosedError);
  });
});

/**
 * The shared suite. This store learns of other writers only when it reads
 * (there is no push from a Durable Object to isolates), and the balancer
 * polls `load()` every cacheTtl for that; the harness does the same poll for
 * the subscriber tests, every 20 ms, while something is subscribed. The
 * suite reads the other client's writes at once, so its stores keep no local
 * copy (cacheTtl 0, below the config's minimum): it checks the object's own
 * contract, and the tests above check the local copy.
 */
function polled(inner: CloudflareStateStore): StateStore {
  const timers = new Set<ReturnType<typeof setInterval>>();
  return {
    load: () => inner.load(),
    compareAndSet: (v, next) => inner.compareAndSet(v, next),
    update: (m) => inner.update(m),
    tryAcquireLease: (n, h, ttl) => inner.tryAcquireLease(n, h, ttl),
    releaseLease: (n, h) => inner.releaseLease(n, h),
    appendEvent: (e) => inner.appendEvent(e),
    recentEvents: (n) => inner.recentEvents(n),
    report: (t, i, v, ttl) => inner.report(t, i, v, ttl),
    reports: (t) => inner.reports(t),
    subscribe(cb) {
      const off = inner.subscribe(cb);
      const timer = setInterval(() => void inner.load().catch(() => {}), 20);
      timers.add(timer);
      return () => {
        off();
        clearInterval(timer);
        timers.delete(timer);
      };
    },
    async close() {
      for (const t of timers) clearInterval(t);
      await inner.close();
    },
  };
}

describeStateStore("cloudflare (Durable Object through Miniflare)", async () => {
  const prefix = `conf${++prefixes}`;
  const [s, o] = [polled(store(0, prefix)), polled(store(0, prefix))];
  return { store: s, other: o, cleanup: async () => void (await Promise.all([s.close(), o.close()])) };
});

describe("cloudflare store: failures reject, never hang", () => {
  const on = (binding: string, timeoutMs?: number) =>
    new CloudflareStateStore({ store: "cloudflare", durableObject: "FULCRUM_STATE", prefix: "x", cacheTtl: 1 }, {
      FULCRUM_STATE: (env as Record<string, unknown>)[binding],
    }, { timeoutMs });

  beforeAll(async () => {
    env.THROWING = await mf.getDurableObjectNamespace("THROWING", "a");
    env.SILENT = await mf.getDurableObjectNamespace("SILENT", "a");
  });

  test("an object that throws: the call rejects with its message", async () => {
    await expect(on("THROWING").load()).rejects.toThrow(/boom from the durable object/);
    await expect(on("THROWING").tryAcquireLease("probe:app", "a", 1000)).rejects.toThrow(/boom/);
  });

  test("an object that never answers: the call rejects after timeoutMs", async () => {
    await expect(on("SILENT", 300).load()).rejects.toThrow("durable object FULCRUM_STATE (x) did not answer load within 300 ms");
  });

  test("a malformed request is refused by the object (400), not applied", async () => {
    const stub = namespace.get(namespace.idFromName(`t${++prefixes}`));
    const r = await stub.fetch("https://fulcrum-state/cas", { method: "POST", body: JSON.stringify({ expectedVersion: 0, data: { groups: [] } }) });
    expect(r.status).toBe(400);
    expect(await r.json()).toEqual({ error: "expected data with groups and actions" });
    expect((await store(1, `t${prefixes}`).load()).version).toBe(0);
  });

  test("a report the isolate did not check (too large, no instance) is refused by the object (400), not kept", async () => {
    const prefix = `t${++prefixes}`;
    const stub = namespace.get(namespace.idFromName(prefix));
    const send = (body: unknown) => stub.fetch("https://fulcrum-state/report", { method: "POST", body: JSON.stringify(body) });
    const large = await send({ topic: "canary", instance: "a", value: "x".repeat(300_000), ttlMs: 10_000 });
    expect(large.status).toBe(400);
    expect(((await large.json()) as { error: string }).error).toMatch(/is 300002 bytes of JSON, over the 262144 a report may take/);
    const nameless = await send({ topic: "canary", value: 1, ttlMs: 10_000 });
    expect(nameless.status).toBe(400);
    expect(await store(1, prefix).reports("canary")).toEqual({});
  });

  test("a missing binding is a clear error", () => {
    expect(() => new CloudflareStateStore({ store: "cloudflare", durableObject: "NOPE", prefix: "x", cacheTtl: 1 }, {})).toThrow(
      'state.durableObject: expected a Durable Object namespace binding named "NOPE" (wrangler.toml [[durable_objects.bindings]]), got no such binding',
    );
  });
});

describe("cloudflare store: an object whose storage holds an older version's snapshot", () => {
  test("it loads without forwardWeights, accepts an older isolate's write that has them, and stores neither", async () => {
    // A stand-in storage (no health checks: no alarm): Miniflare cannot be given a stored value directly.
    const old = { groups: {}, forwardWeights: { "10": { blue: 90, green: 10 } }, actions: { default: { forward: "green" } }, version: 3, updatedAt: 5 };
    const puts: unknown[] = [];
    const ctx = {
      storage: { get: async () => structuredClone(old), put: async (_key: string, value: unknown) => void puts.push(value) },
      blockConcurrencyWhile: <T>(fn: () => Promise<T>) => fn(),
    } as unknown as DurableObjectContext;
    const State = defineFulcrumState({
      listen: { port: 8080 },
      targetGroups: { app: { targets: [{ url: "http://127.0.0.1:9" }] } },
      defaultAction: { forward: "app" },
    });
    const object = new State(ctx, {});
    const call = async (op: string, body: unknown) =>
      (await object.fetch(new Request(`https://fulcrum-state/${op}`, { method: "POST", body: JSON.stringify(body) }))).json();
    const current = { groups: {}, actions: { default: { forward: "green" } }, version: 3, updatedAt: 5 };
    expect(await call("load", {})).toEqual({ snapshot: current });
    const write = await call("cas", { expectedVersion: 3, data: { ...old, forwardWeights: { "10": { blue: 50, green: 50 } } } });
    expect(write).toMatchObject({ written: { version: 4, actions: { default: { forward: "green" } } } });
    expect("forwardWeights" in (write as { written: object }).written).toBe(false);
    expect(puts).toHaveLength(1);
    expect(Object.keys(puts[0] as object).sort()).toEqual(["actions", "groups", "updatedAt", "version"]);
  });
});

describe("cloudflare store: two isolates on one object", () => {
  const a = (path: string) => mf.dispatchFetch(`http://fixture${path}`);
  // Miniflare's Fetcher type needs @cloudflare/workers-types, which this repo does not install.
  const b = async (path: string) => ((await mf.getWorker("b")) as unknown as { fetch(url: string): Promise<Response> }).fetch(`http://fixture${path}`);
  const json = async (r: Response | Promise<{ json(): Promise<unknown>; status: number }>) => {
    const res = await r;
    expect(res.status).toBe(200);
    return (await res.json()) as { version: number; groups: Record<string, { weights: Record<string, number> }> };
  };

  test("a write in one isolate is seen by the other within its cacheTtl, and not before from a long TTL", async () => {
    const p = `pair${++prefixes}`;
    expect((await json(b(`/load?prefix=${p}&ttl=60`))).version).toBe(0);
    expect((await json(b(`/load?prefix=${p}&ttl=0.1`))).version).toBe(0);
    expect((await json(a(`/bump?prefix=${p}&name=x`))).version).toBe(1);
    // The 60 s store answers from its local copy: the request path did not go to the object.
    expect((await json(b(`/load?prefix=${p}&ttl=60`))).version).toBe(0);
    await Bun.sleep(150); // one 0.1 s TTL later the other store must have the write
    const seen = await json(b(`/load?prefix=${p}&ttl=0.1`));
    expect(seen.version).toBe(1);
    expect(seen.groups.app!.weights).toEqual({ x: 1 });
  });

  test("concurrent updates from both isolates lose nothing", async () => {
    const p = `pair${++prefixes}`;
    await Promise.all(Array.from({ length: 10 }, (_, i) => json((i % 2 ? a : b)(`/bump?prefix=${p}&ttl=60&name=${i % 2 ? "a" : "b"}`))));
    const final = await json(a(`/load?prefix=${p}&ttl=0.1`));
    expect(final.version).toBe(10);
    expect(final.groups.app!.weights).toEqual({ a: 5, b: 5 });
  });
});

describe("cloudflare store: the object's alarm runs the health checks", () => {
  let upstream: Server;
  let upstreamUrl = "";
  const probes: number[] = [];
  let served = 0;
  let workers: WorkerdInstances;

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      if (req.url === "/healthz") probes.push(Date.now());
      else served++;
      res.end("ok");
    });
    await new Promise<void>((ok) => upstream.listen(0, "127.0.0.1", ok));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`;
    const dir = mkdtempSync(join(tmpdir(), "fulcrum-cf-alarm-"));
    const configPath = join(dir, "fulcrum.json");
    writeFileSync(
      configPath,
      JSON.stringify({
        listen: { port: 8080 },
        targetGroups: { app: { targets: [{ url: upstreamUrl }], healthCheck: { path: "/healthz", interval: 1, timeout: 0.5, jitter: 0 } } },
        defaultAction: { forward: "app" },
        state: { store: "cloudflare", prefix: `alarm${Date.now()}`, cacheTtl: 1 },
      }),
    );
    workers = await startWorkerd(ROOT, configPath, "127.0.0.1", [await freePort(), await freePort()]);
  }, 60_000);

  afterAll(async () => {
    await workers?.dispose();
    upstream?.close();
  });

  /** The smallest gap between consecutive probes: about the interval with one prober, near 0 with two. */
  const minGap = (times: number[]) => Math.min(...times.slice(1).map((t, i) => t - times[i]!));
  const get = async (url: string) => {
    const r = await fetch(`${url}/hello`, { headers: { "cf-connecting-ip": "127.0.0.1" } });
    expect(await r.text()).toBe("ok");
  };

  test("the first request arms the alarm; then it probes once per interval with no traffic at all", async () => {
    await get(workers.urls[0]!);
    // That request's isolate may probe once itself (its due round); count from a little after it.
    const from = Date.now() + 300;
    const deadline = Date.now() + 15_000;
    while (probes.filter((t) => t > from).length < 3 && Date.now() < deadline) await Bun.sleep(100);
    const alarmProbes = probes.filter((t) => t > from);
    expect(alarmProbes.length).toBeGreaterThanOrEqual(3);
    expect(minGap(alarmProbes)).toBeGreaterThanOrEqual(500);
  }, 30_000);

  test("one probe per interval in total while two instances serve traffic", async () => {
    // Each isolate's first request may run its own due round; count after both have had theirs.
    for (const url of workers.urls) await get(url);
    await Bun.sleep(300);
    const from = Date.now();
    const deadline = Date.now() + 20_000;
    while (probes.filter((t) => t > from).length < 4 && Date.now() < deadline) {
      for (const url of workers.urls) await get(url);
      await Bun.sleep(50);
    }
    const during = probes.filter((t) => t > from);
    expect(during.length).toBeGreaterThanOrEqual(4);
    expect(served).toBeGreaterThan(8);
    expect(minGap(during)).toBeGreaterThanOrEqual(500);
  }, 30_000);
});
