/**
 * The primary's hub over a real loopback socket: a worker is admitted only
 * with the token it was given; then the primary's store answers its state
 * calls through RemoteStateStore and pushes every snapshot written.
 */
import { describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { Channel } from "../../../src/runtimes/server/workers/channel.ts";
import { Hub } from "../../../src/runtimes/server/workers/hub.ts";
import { MemoryStateStore } from "../../../src/state/memory.ts";
import { RemoteStateStore } from "../../../src/state/remote.ts";
import type { Snapshot } from "../../../src/state/store.ts";

function dial(port: number): Promise<Channel> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => resolve(new Channel(socket)));
    socket.once("error", reject);
  });
}

const handlers = { view: async () => null, restart: async () => "", reload: async () => null, config: () => ({ text: "{}" }) };

describe("workers hub", () => {
  test("a wrong token is refused and the connection closed", async () => {
    const hub = await Hub.start(new MemoryStateStore({ shared: true }), "right-token", handlers, Date.now);
    try {
      const channel = await dial(hub.port);
      await expect(channel.request("hello", { token: "wrong-token", serial: 1, pid: 1 })).rejects.toThrow();
      await expect(channel.request("state.load")).rejects.toThrow();
      expect(hub.links()).toEqual([]);
    } finally {
      hub.close();
    }
  });

  test("stray bytes on the port (not JSON objects, an endless line) end that connection, not the primary", async () => {
    const hub = await Hub.start(new MemoryStateStore({ shared: true }), "right-token", handlers, Date.now);
    try {
      for (const garbage of ["null\n", "42\n", '"x"\n', "[1]\n", "{}\n", "{not json\n", "x".repeat(10_000)]) {
        const closed = await new Promise<boolean>((resolve) => {
          const socket = connect(hub.port, "127.0.0.1", () => socket.write(garbage));
          socket.on("close", () => resolve(true));
          socket.on("error", () => {});
          setTimeout(() => resolve(false), 2000);
        });
        expect([garbage.slice(0, 10), closed]).toEqual([garbage.slice(0, 10), true]);
      }
      // Still serving its workers.
      const channel = await dial(hub.port);
      await channel.request("hello", { token: "right-token", serial: 1, pid: 1 });
      expect((await channel.request("state.load")) as { version: number }).toMatchObject({ version: 0 });
    } finally {
      hub.close();
    }
  });

  test("a worker's store is the primary's: calls answered, every write pushed", async () => {
    const primary = new MemoryStateStore({ shared: true });
    const hub = await Hub.start(primary, "t0ken", handlers, Date.now);
    try {
      const channel = await dial(hub.port);
      await channel.request("hello", { token: "t0ken", serial: 7, pid: 42 });
      const remote = new RemoteStateStore(channel);
      const pushed: Snapshot[] = [];
      remote.subscribe((s) => pushed.push(s));
      const written = await remote.update((d) => void (d.actions["10"] = { forward: "green" }));
      expect(written.version).toBe(1);
      expect((await primary.load()).actions["10"]).toEqual({ forward: "green" });
      // Another worker's (here: the primary's own) write reaches this one.
      await primary.update((d) => void (d.actions.default = { forward: "blue" }));
      for (let i = 0; i < 50 && pushed.length < 2; i++) await Bun.sleep(10);
      expect(pushed.map((s) => s.version)).toEqual([1, 2]);
      expect(Object.isFrozen(pushed[1]!.actions)).toBe(true);
      expect(await remote.tryAcquireLease("probe:app", "w7", 1000)).toBe(true);
      expect(await primary.tryAcquireLease("probe:app", "other", 1000)).toBe(false);
      await remote.appendEvent({ at: 1, instance: "w7", source: "test", kind: "drain", subject: "app/a" });
      expect((await remote.recentEvents(5)).map((e) => e.subject)).toEqual(["app/a"]);
      expect(hub.links().map((l) => [l.serial, l.pid])).toEqual([[7, 42]]);
      expect(remote.shared).toBe(true);
    } finally {
      hub.close();
    }
  });
});
