/**
 * Memory per socket is bounded by `maxBufferedBytes` (RFC 6455 §7.4.1):
 * a single message larger than the bound closes both sides with 1009 and is
 * not forwarded; a reader that lets more than the bound pile up closes both
 * sides with 1011.
 */
import { describe, expect, test } from "bun:test";
import { setup } from "./fakes.ts";

const MAX = 65536; // the smallest bound the schema accepts
const TOO_BIG: [number, string] = [1009, "message too big for the balancer's buffer"];
const SLOW: [number, string] = [1011, "peer is not reading (buffer limit)"];

describe("relay: message size", () => {
  test("a binary message of exactly maxBufferedBytes is forwarded", () => {
    const { client, target, relay } = setup({ maxBufferedBytes: MAX });
    const m = new ArrayBuffer(MAX);
    client.receive(m);
    expect(target.sent[0]).toBe(m);
    expect(relay.ended).toBe(false);
  });

  test("a binary message one byte over closes both sides with 1009 and is not forwarded", () => {
    const { client, target, ended } = setup({ maxBufferedBytes: MAX });
    client.receive(new Uint8Array(MAX + 1));
    expect(target.sent).toEqual([]);
    expect(client.closes).toEqual([TOO_BIG]);
    expect(target.closes).toEqual([TOO_BIG]);
    expect(ended).toEqual([{ code: 1009, reason: TOO_BIG[1], by: "balancer" }]);
  });

  test("the same holds from the target towards the client", () => {
    const { client, target } = setup({ maxBufferedBytes: MAX });
    target.receive(new ArrayBuffer(MAX + 1));
    expect(client.sent).toEqual([]);
    expect(client.closes).toEqual([TOO_BIG]);
    expect(target.closes).toEqual([TOO_BIG]);
  });

  test("a text message whose UTF-8 encoding exceeds the bound closes with 1009", () => {
    const { client, target } = setup({ maxBufferedBytes: MAX });
    client.receive("€".repeat(Math.ceil((MAX + 1) / 3))); // 3 bytes each
    expect(target.sent).toEqual([]);
    expect(target.closes).toEqual([TOO_BIG]);
  });

  test("a text message within the bound in UTF-8 bytes is forwarded, whatever its length in UTF-16 units", () => {
    const { client, target, relay } = setup({ maxBufferedBytes: MAX });
    const ascii = "x".repeat(MAX); // exactly MAX bytes of UTF-8
    client.receive(ascii);
    expect(relay.ended).toBe(false);
    expect(target.sent).toEqual([ascii]);
  });
});

describe("relay: slow reader", () => {
  test("buffered bytes above the bound after a send close both sides with 1011", () => {
    const { client, target, ended } = setup({ maxBufferedBytes: MAX });
    target.bufferGrowthPerSend = 40_000; // the target's socket takes nothing
    client.receive("one");
    expect(ended).toEqual([]);
    client.receive("two"); // 80,000 queued towards the target
    expect(target.sent).toEqual(["one", "two"]);
    expect(client.closes).toEqual([SLOW]);
    expect(target.closes).toEqual([SLOW]);
    expect(ended).toEqual([{ code: 1011, reason: SLOW[1], by: "balancer" }]);
    client.receive("three");
    expect(target.sent).toEqual(["one", "two"]);
  });

  test("a slow client (the target's messages pile up towards it) is bounded the same way", () => {
    const { client, target, ended } = setup({ maxBufferedBytes: MAX });
    client.buffered = MAX + 1;
    target.receive("x");
    expect(client.closes).toEqual([SLOW]);
    expect(target.closes).toEqual([SLOW]);
    expect(ended).toHaveLength(1);
  });

  test("exactly maxBufferedBytes buffered is still within the bound", () => {
    const { client, target, relay } = setup({ maxBufferedBytes: MAX });
    target.buffered = MAX;
    client.receive("x");
    expect(relay.ended).toBe(false);
  });

  test("a runtime that cannot tell its buffered amount (-1) never trips the bound", () => {
    const { client, target, relay } = setup({ maxBufferedBytes: MAX });
    target.buffered = -1;
    for (let i = 0; i < 100; i++) client.receive(new ArrayBuffer(MAX));
    expect(target.sent).toHaveLength(100);
    expect(relay.ended).toBe(false);
  });
});
