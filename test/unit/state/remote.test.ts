/**
 * The remote store (the worker processes of one host, `--workers`) against
 * the StateStore contract: two RemoteStateStores, as two workers, through the
 * primary's real hub over loopback, to the primary's memory store. The
 * primary's clock is fake, so lease and report time passes at once.
 */
import { expect, test } from "bun:test";
import { connect } from "node:net";
import { Channel } from "../../../src/runtimes/server/workers/channel.ts";
import { Hub } from "../../../src/runtimes/server/workers/hub.ts";
import { MemoryStateStore } from "../../../src/state/memory.ts";
import { RemoteStateStore, storeCall } from "../../../src/state/remote.ts";
import { describeStateStore } from "./conformance.ts";

const TOKEN = "conformance";
const handlers = { view: async () => null, restart: async () => "", reload: async () => null, config: () => ({ text: "{}" }) };

async function worker(port: number, serial: number): Promise<{ store: RemoteStateStore; channel: Channel }> {
  const channel = await new Promise<Channel>((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => resolve(new Channel(socket)));
    socket.once("error", reject);
  });
  await channel.request("hello", { token: TOKEN, serial, pid: serial });
  return { store: new RemoteStateStore(channel), channel };
}

describeStateStore("remote (workers through the primary's hub)", async () => {
  let now = 1_700_000_000_000;
  const primary = new MemoryStateStore({ now: () => now, shared: true });
  const hub = await Hub.start(primary, TOKEN, handlers, Date.now);
  const [a, b] = [await worker(hub.port, 1), await worker(hub.port, 2)];
  return {
    store: a.store,
    other: b.store,
    elapse: async (ms) => {
      now += ms;
    },
    cleanup: async () => {
      await Promise.all([a.store.close(), b.store.close()]);
      a.channel.close();
      b.channel.close();
      hub.close();
      await primary.close();
    },
  };
});

test("the primary answers state.report and state.reports from its store, and refuses what its store refuses", async () => {
  let now = 1_000;
  const primary = new MemoryStateStore({ now: () => now });
  await storeCall(primary, "state.report", { topic: "canary", instance: "w1", value: { n: 1 }, ttlMs: 100 });
  expect(await storeCall(primary, "state.reports", { topic: "canary" })).toEqual({ w1: { n: 1 } });
  now += 100;
  expect(await storeCall(primary, "state.reports", { topic: "canary" })).toEqual({});
  // A worker that skipped its own check (an older one) is refused all the same.
  await expect(storeCall(primary, "state.report", { topic: "canary", instance: "w1", value: "x".repeat(300_000), ttlMs: 100 })!).rejects.toThrow(
    /over the 262144 a report may take/,
  );
  await expect(storeCall(primary, "state.report", { topic: "canary", value: 1, ttlMs: 100 })!).rejects.toThrow(RangeError);
});
