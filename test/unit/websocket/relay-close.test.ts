/**
 * Close codes and reasons cross the relay in a form that may be sent on the
 * wire (RFC 6455 §7.4.1/§7.4.2, §5.5), onEnd fires once with who ended it,
 * and the balancer can close both sides (shutdown 1001, draining 1012).
 */
import { describe, expect, test } from "bun:test";
import { relayableCloseCode, relayableReason } from "../../../src/proxy/websocket-relay.ts";
import { setup } from "./fakes.ts";

const utf8 = (s: string) => new TextEncoder().encode(s).length;

describe("relayableCloseCode", () => {
  test("1005 (no status received) relays as a normal close, 1000", () => {
    expect(relayableCloseCode(1005)).toBe(1000);
  });

  test("reserved 1004/1006/1015 and out-of-range codes become 1011", () => {
    for (const code of [1004, 1006, 1015, 0, 999, 1016, 1100, 2999, 5000, 65535, -1, 1000.5, Number.NaN]) {
      expect([code, relayableCloseCode(code)]).toEqual([code, 1011]);
    }
  });

  test("codes valid on the wire pass through unchanged", () => {
    for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]) {
      expect(relayableCloseCode(code)).toBe(code);
    }
  });
});

describe("relayableReason", () => {
  test("reasons up to 123 bytes are kept as they are", () => {
    for (const r of ["", "bye", "x".repeat(123), "é".repeat(61) + "x"]) expect(relayableReason(r)).toBe(r);
  });

  test("longer reasons are cut to at most 123 bytes, never inside a UTF-8 sequence", () => {
    const cases: Array<[string, string]> = [
      ["x".repeat(200), "x".repeat(123)],
      ["é".repeat(70), "é".repeat(61)], // 2-byte: 122 bytes, the 62nd would straddle byte 123
      ["€".repeat(50), "€".repeat(41)], // 3-byte: exactly 123
      ["x" + "€".repeat(50), "x" + "€".repeat(40)], // 121 bytes, the next € straddles
      ["𝄞".repeat(40), "𝄞".repeat(30)], // 4-byte (a surrogate pair in JS): 120 bytes
      ["xx" + "𝄞".repeat(40), "xx" + "𝄞".repeat(30)], // 122 bytes
    ];
    for (const [input, want] of cases) {
      const got = relayableReason(input);
      expect(got).toBe(want);
      expect(utf8(got)).toBeLessThanOrEqual(123);
      expect(got).not.toContain("\uFFFD");
    }
  });
});

describe("relay: closes", () => {
  test("the client's close reaches the target with its code and reason; the client is not closed again", () => {
    const { client, target, ended, relay } = setup();
    client.peerClose(4001, "client done");
    expect(target.closes).toEqual([[4001, "client done"]]);
    expect(client.closes).toEqual([]);
    expect(ended).toEqual([{ code: 4001, reason: "client done", by: "client" }]);
    expect(relay.ended).toBe(true);
  });

  test("the target's close reaches the client", () => {
    const { client, target, ended } = setup();
    target.peerClose(1000, "bye");
    expect(client.closes).toEqual([[1000, "bye"]]);
    expect(target.closes).toEqual([]);
    expect(ended).toEqual([{ code: 1000, reason: "bye", by: "target" }]);
  });

  test("a close without a status (1005) reaches the other side as 1000", () => {
    const { client, target, ended } = setup();
    target.peerClose(1005, "");
    expect(client.closes).toEqual([[1000, ""]]);
    expect(ended).toEqual([{ code: 1005, reason: "", by: "target" }]);
  });

  test("a broken connection (1006) reaches the other side as 1011", () => {
    const { client, target } = setup();
    client.peerClose(1006);
    expect(target.closes).toEqual([[1011, ""]]);
  });

  test("1015 and an out-of-range code from a peer reach the other side as 1011", () => {
    const a = setup();
    a.target.peerClose(1015, "tls");
    expect(a.client.closes).toEqual([[1011, "tls"]]);
    const b = setup();
    b.client.peerClose(5000, "weird");
    expect(b.target.closes).toEqual([[1011, "weird"]]);
  });

  test("a long reason is cut to 123 bytes on a character boundary on its way", () => {
    const { client, target } = setup();
    target.peerClose(1000, "é".repeat(100));
    expect(client.closes).toEqual([[1000, "é".repeat(61)]]);
  });

  test("the balancer's close(1001) at shutdown closes both sides", () => {
    const { client, target, ended, relay } = setup();
    relay.close(1001, "shutting down");
    expect(client.closes).toEqual([[1001, "shutting down"]]);
    expect(target.closes).toEqual([[1001, "shutting down"]]);
    expect(ended).toEqual([{ code: 1001, reason: "shutting down", by: "balancer" }]);
    expect(relay.ended).toBe(true);
  });

  test("the balancer's close(1012) for a draining target closes both sides", () => {
    const { client, target, ended, relay } = setup();
    relay.close(1012, "target draining");
    expect(client.closes).toEqual([[1012, "target draining"]]);
    expect(target.closes).toEqual([[1012, "target draining"]]);
    expect(ended).toEqual([{ code: 1012, reason: "target draining", by: "balancer" }]);
  });

  test("onEnd fires once: the other side's echoed close, later closes and close() after the end are ignored", () => {
    const { client, target, ended, relay } = setup({}, { target: { echoClose: true }, client: { echoClose: true } });
    client.peerClose(1000, "first");
    target.peerClose(1001, "second");
    relay.close(1012, "third");
    relay.close(1001, "fourth");
    expect(ended).toEqual([{ code: 1000, reason: "first", by: "client" }]);
    expect(target.closes).toEqual([[1000, "first"]]);
    expect(client.closes).toEqual([]);
  });

  test("onEnd fires once when the balancer closes ends that echo the close synchronously", () => {
    const { client, target, ended, relay } = setup({}, { target: { echoClose: true }, client: { echoClose: true } });
    relay.close(1001, "bye");
    expect(ended).toEqual([{ code: 1001, reason: "bye", by: "balancer" }]);
    expect(client.closes).toHaveLength(1);
    expect(target.closes).toHaveLength(1);
  });

  test("a close queued before the relay attached ends it at once and reaches the other side", () => {
    const { client, target, ended, relay, clock } = setup({}, { beforeRelay: (c) => (c.receive("last words"), c.peerClose(1000, "gone")) });
    expect(target.sent).toEqual(["last words"]);
    expect(target.closes).toEqual([[1000, "gone"]]);
    expect(client.closes).toEqual([]);
    expect(ended).toEqual([{ code: 1000, reason: "gone", by: "client" }]);
    expect(relay.ended).toBe(true);
    expect(clock.pending).toBe(0); // no idle timer left behind
  });

  test("ending cancels the idle timer", () => {
    const { clock, relay } = setup({ idleTimeout: 10, pingInterval: 2 });
    expect(clock.pending).toBe(1);
    relay.close(1001, "bye");
    expect(clock.pending).toBe(0);
  });
});
