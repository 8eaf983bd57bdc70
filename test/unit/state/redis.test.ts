/**
 * The Redis store against a real redis-server (Debian's package), on Bun's
 * built-in client and on node-redis, and both at once (Bun and Node
 * instances sharing one Redis). Then fail static: Redis killed, hung and
 * restarted under live stores.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { stateOpeners as bunOpeners } from "../../../src/runtimes/bun/stores.ts";
import { stateOpeners as nodeOpeners } from "../../../src/runtimes/node/stores.ts";
import { openBunRedis } from "../../../src/runtimes/bun/redis.ts";
import { openNodeRedis } from "../../../src/runtimes/node/redis.ts";
import { openStateStore } from "../../../src/state/open.ts";
import { RedisStateStore, type RedisStoreOptions } from "../../../src/state/redis.ts";
import { type Snapshot, StateStoreClosedError } from "../../../src/state/store.ts";
import { type RedisServer, startRedis } from "../../redis-server.ts";
import { describeStateStore, eventually } from "./conformance.ts";

const CLIENTS = { bun: openBunRedis, node: openNodeRedis } as const;
type ClientName = keyof typeof CLIENTS;
const CONNECT = { connectTimeoutMs: 2000 };

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(() => redis?.stop());

let prefixes = 0;
/** A fresh key prefix per test: tests share one server without seeing each other's keys. */
const freshPrefix = () => `t${++prefixes}-${crypto.randomUUID().slice(0, 8)}`;

async function open(client: ClientName, prefix: string, options: Partial<RedisStoreOptions> = {}): Promise<RedisStateStore> {
  return new RedisStateStore(await CLIENTS[client](redis.url, CONNECT), { prefix, ...options });
}

for (
  const [a, b] of [
    ["bun", "bun"],
    ["node", "node"],
    ["bun", "node"],
  ] as const
) {
  describeStateStore(a === b ? `redis on ${a}'s client` : `redis shared by ${a} and ${b} clients`, async () => {
    const prefix = freshPrefix();
    const store = await open(a, prefix);
    const other = await open(b, prefix);
    return {
      store,
      other,
      // Redis expires keys on its own clock: let the time really pass (and a little more).
      elapse: (ms) => new Promise((r) => setTimeout(r, ms + 20)),
      cleanup: async () => {
        await Promise.all([store.close(), other.close()]);
      },
    };
  });
}

describe("redis: snapshots written by older versions", () => {
  test("a stored snapshot with forwardWeights loads without it, and the next write leaves it out", async () => {
    const prefix = freshPrefix();
    const raw = await CLIENTS.bun(redis.url, CONNECT);
    const old = { groups: {}, forwardWeights: { "10": { blue: 90, green: 10 } }, actions: { default: { forward: "green" } } };
    await raw.send(["HSET", `${prefix}:snapshot`, "version", "3", "updatedAt", "5", "data", JSON.stringify(old)]);
    const store = await open("bun", prefix);
    try {
      expect(await store.load()).toEqual({ groups: {}, actions: { default: { forward: "green" } }, version: 3, updatedAt: 5 });
      expect((await store.update(() => {})).version).toBe(4);
      expect(JSON.parse(String(await raw.send(["HGET", `${prefix}:snapshot`, "data"])))).toEqual({ groups: {}, actions: { default: { forward: "green" } } });
    } finally {
      await Promise.all([store.close(), raw.close()]);
    }
  });
});

describe("redis: reports", () => {
  test("one hash per topic, a field per instance holding { expiresAt, value }; expired fields are deleted when read; the hash lives as long as its longest ttl", async () => {
    const prefix = freshPrefix();
    const raw = await CLIENTS.bun(redis.url, CONNECT);
    let now = Date.now();
    const store = await open("bun", prefix, { now: () => now });
    const key = `${prefix}:reports:canary`;
    try {
      await store.report("canary", "a", { n: 1 }, 60_000);
      await store.report("canary", "b", [2], 5_000);
      expect(JSON.parse(String(await raw.send(["HGET", key, "a"])))).toEqual({ expiresAt: now + 60_000, value: { n: 1 } });
      const pttl = Number(await raw.send(["PTTL", key]));
      expect(pttl).toBeGreaterThan(50_000); // b's shorter ttl did not shorten the hash's
      expect(pttl).toBeLessThanOrEqual(60_000);
      now += 5_000; // b's report is due (this store's clock decides, not Redis's)
      expect(await store.reports("canary")).toEqual({ a: { n: 1 } });
      expect(await raw.send(["HKEYS", key])).toEqual(["a"]);
      // Something else in the hash (not written by this store) is neither returned nor deleted.
      await raw.send(["HSET", key, "foreign", "not a report"]);
      expect(await store.reports("canary")).toEqual({ a: { n: 1 } });
      expect(Number(await raw.send(["HEXISTS", key, "foreign"]))).toBe(1);
      // A hash that outlives every ttl is gone on its own.
      await store.report("short", "a", 1, 50);
      await eventually("the topic's hash expired", async () => Number(await raw.send(["EXISTS", `${prefix}:reports:short`])) === 0);
    } finally {
      await Promise.all([store.close(), raw.close()]);
    }
  });
});

for (const client of ["bun", "node"] as const) {
  describe(`redis on ${client}'s client: fail static`, () => {
    // These kill and restart the shared server; each ends with it running again.
    test("opening fails with a clear start-up error when Redis is not there", async () => {
      const openers = client === "bun" ? bunOpeners : nodeOpeners;
      const config = { store: "redis", url: "redis://127.0.0.1:1", prefix: "fulcrum", cacheTtl: 1 } as const;
      const opening = openStateStore(config, openers, { env: {}, log: () => {} }, client);
      await expect(opening).rejects.toThrow(/^state\.store: cannot reach the redis store: /);
    });

    test("the runtime's opener returns a working store", async () => {
      const openers = client === "bun" ? bunOpeners : nodeOpeners;
      const config = { store: "redis", url: redis.url, prefix: freshPrefix(), cacheTtl: 1 } as const;
      const store = await openStateStore(config, openers, { env: {}, log: () => {} }, client);
      expect((await store.update(() => {})).version).toBe(1);
      await store.close();
    });

    test("Redis killed: calls reject instead of hanging; restarted on the same port: the same store works again, its subscription resumes, the snapshot is put back", async () => {
      const prefix = freshPrefix();
      const errors: unknown[] = [];
      const store = await open(client, prefix, { onBackgroundError: (e) => errors.push(e) });
      const other = await open(client, prefix);
      const seen: Snapshot[] = [];
      store.subscribe((s) => seen.push(s));
      await other.update((d) => {
        d.actions.default = { forward: "green" };
      });
      // Heard from the other instance: the subscription is live before Redis goes.
      await eventually("the subscription delivered version 1", () => seen.at(-1)?.version === 1);
      await store.tryAcquireLease("probe:app", "me", 60_000);

      await redis.stop();
      await expect(store.load()).rejects.toThrow(/^redis /);
      await expect(store.update(() => {})).rejects.toThrow(/^redis /);
      await expect(store.tryAcquireLease("probe:app", "me", 60_000)).rejects.toThrow(/^redis /);

      await redis.restart(); // empty: no persistence
      await eventually("the store answers again", () => store.load().then(() => true, () => false));
      // Redis lost everything; the store put its last known snapshot back at its version,
      // so instances comparing versions do not ignore what is written next.
      const restored = await store.load();
      expect(restored.version).toBe(1);
      expect(restored.actions).toEqual({ default: { forward: "green" } });

      // The other instance writes; the store's subscription (not re-created) hears it.
      await eventually("the other store answers again", () => other.load().then(() => true, () => false));
      await other.update((d) => {
        d.actions.default = { forward: "blue" };
      });
      await eventually("the subscription resumed after the restart", () => seen.at(-1)?.version === 2);
      expect(seen.at(-1)!.actions).toEqual({ default: { forward: "blue" } });
      expect(seen.map((s) => s.version)).toEqual([1, 2]);
      await Promise.all([store.close(), other.close()]);
    });

    test("Redis hung (SIGSTOP): calls reject after the command timeout; it answers again after SIGCONT", async () => {
      const store = await open(client, freshPrefix(), { commandTimeoutMs: 300 });
      await store.update(() => {});
      redis.pause();
      try {
        await expect(store.load()).rejects.toThrow(/no reply within 300 ms/);
        await expect(store.tryAcquireLease("probe:app", "me", 1000)).rejects.toThrow(/no reply within 300 ms/);
      } finally {
        redis.resume();
      }
      await eventually("the store answers again", () => store.load().then(() => true, () => false));
      expect((await store.load()).version).toBe(1);
      await store.close();
      await expect(store.load()).rejects.toBeInstanceOf(StateStoreClosedError);
    });
  });
}
