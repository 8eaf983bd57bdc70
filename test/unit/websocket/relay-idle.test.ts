/**
 * Idle timeout (nginx proxy_read_timeout, ALB idle timeout): both sides are
 * closed with 1001 exactly `idleTimeout` seconds after the last frame either
 * way; keep-alive pings go to both sides every `pingInterval` idle seconds.
 */
import { describe, expect, test } from "bun:test";
import { S, setup } from "./fakes.ts";

const IDLE: Array<[number, string]> = [[1001, "idle timeout"]];

describe("relay: idle timeout", () => {
  test("closes both sides with 1001 exactly idleTimeout seconds after opening without frames", () => {
    const { clock, client, target, ended, relay } = setup({ idleTimeout: 10 });
    clock.advance(10 * S - 1);
    expect(relay.ended).toBe(false);
    expect(client.closes).toEqual([]);
    clock.advance(1);
    expect(client.closes).toEqual(IDLE);
    expect(target.closes).toEqual(IDLE);
    expect(ended).toEqual([{ code: 1001, reason: "idle timeout", by: "balancer" }]);
    expect(clock.pending).toBe(0);
  });

  test("the default idle timeout is one hour", () => {
    const { clock, relay } = setup();
    clock.advance(3600 * S - 1);
    expect(relay.ended).toBe(false);
    clock.advance(1);
    expect(relay.ended).toBe(true);
  });

  test("a client frame re-arms it: the close comes idleTimeout after the last frame", () => {
    const { clock, client, target, relay } = setup({ idleTimeout: 10 });
    clock.advance(6 * S);
    client.receive("keep me");
    clock.advance(10 * S - 1); // t = 15.999 s
    expect(relay.ended).toBe(false);
    clock.advance(1); // t = 16 s
    expect(target.closes).toEqual(IDLE);
  });

  test("a target frame re-arms it too, and so does every later frame", () => {
    const { clock, client, target, relay } = setup({ idleTimeout: 10 });
    for (let i = 0; i < 5; i++) {
      clock.advance(9 * S);
      (i % 2 ? client : target).receive(`tick ${i}`);
    }
    // last frame at 45 s
    clock.advance(10 * S - 1);
    expect(relay.ended).toBe(false);
    clock.advance(1);
    expect(client.closes).toEqual(IDLE);
    expect(target.closes).toEqual(IDLE);
  });

  test("pings are not traffic: they do not keep an idle socket open", () => {
    const { clock, client, relay } = setup({ idleTimeout: 10, pingInterval: 3 });
    clock.advance(10 * S);
    expect(client.pings).toBeGreaterThan(0);
    expect(relay.ended).toBe(true);
  });
});

describe("relay: keep-alive pings", () => {
  test("no pings by default (pingInterval 0)", () => {
    const { clock, client, target } = setup({ idleTimeout: 10 });
    clock.advance(10 * S);
    expect([client.pings, target.pings]).toEqual([0, 0]);
  });

  test("both sides are pinged every pingInterval idle seconds, until the idle timeout", () => {
    const { clock, client, target } = setup({ idleTimeout: 10, pingInterval: 3 });
    clock.advance(3 * S - 1);
    expect([client.pings, target.pings]).toEqual([0, 0]);
    clock.advance(1);
    expect([client.pings, target.pings]).toEqual([1, 1]);
    clock.advance(3 * S); // 6 s
    expect([client.pings, target.pings]).toEqual([2, 2]);
    clock.advance(3 * S); // 9 s
    expect([client.pings, target.pings]).toEqual([3, 3]);
    clock.advance(1 * S); // 10 s: idle close, no ping
    expect([client.pings, target.pings]).toEqual([3, 3]);
    expect(client.closes).toEqual(IDLE);
  });

  test("traffic postpones the next ping: pingInterval after the last frame", () => {
    const { clock, client, target } = setup({ idleTimeout: 60, pingInterval: 3 });
    clock.advance(2 * S);
    target.receive("x");
    clock.advance(3 * S - 1); // 4.999 s: 2.999 s since the frame
    expect(client.pings).toBe(0);
    clock.advance(1); // 5 s
    expect([client.pings, target.pings]).toEqual([1, 1]);
  });

  test("an end that cannot ping is skipped; the other is still pinged and the idle timeout still fires", () => {
    const { clock, client, target, relay } = setup({ idleTimeout: 10, pingInterval: 4 }, { client: { ping: false } });
    expect(client.ping).toBeUndefined();
    clock.advance(8 * S);
    expect([client.pings, target.pings]).toEqual([0, 2]);
    clock.advance(2 * S);
    expect(relay.ended).toBe(true);
  });

  test("with traffic flowing, no pings are sent and the socket stays open", () => {
    const { clock, client, target, relay } = setup({ idleTimeout: 5, pingInterval: 2 });
    for (let i = 0; i < 100; i++) {
      clock.advance(1 * S);
      client.receive("beat");
    }
    expect([client.pings, target.pings, relay.ended]).toEqual([0, 0, false]);
    expect(clock.pending).toBe(1); // one timer per socket, not one per frame
  });

  test("an end whose ping throws neither stops the other side's ping nor the idle timeout", () => {
    const { clock, client, target, relay } = setup({ idleTimeout: 10, pingInterval: 3 }, { client: { pingThrows: true } });
    expect(() => clock.advance(3 * S)).not.toThrow();
    expect([client.pings, target.pings]).toEqual([1, 1]);
    expect(() => clock.advance(7 * S)).not.toThrow();
    expect(relay.ended).toBe(true);
    expect(target.closes).toEqual(IDLE);
  });
});
