/** Frames cross the relay both ways, in order, as the very objects received (no copies, no re-encoding). */
import { describe, expect, test } from "bun:test";
import { setup } from "./fakes.ts";

describe("relay: frames", () => {
  test("client → target: text and binary in order, each the same object", () => {
    const { client, target } = setup();
    const frames = ["hello", new Uint8Array([1, 2, 3]), "", new Uint8Array([0xff]).buffer, "héllo €𝄞"];
    for (const f of frames) client.receive(f);
    expect(target.sent).toHaveLength(frames.length);
    frames.forEach((f, i) => expect(target.sent[i]).toBe(f));
    expect(client.sent).toEqual([]);
  });

  test("target → client: text and binary in order, each the same object", () => {
    const { client, target } = setup();
    const frames = [new Uint8Array([9, 8]).buffer, "a", "b", new Uint8Array(0)];
    for (const f of frames) target.receive(f);
    expect(client.sent).toHaveLength(frames.length);
    frames.forEach((f, i) => expect(client.sent[i]).toBe(f));
    expect(target.sent).toEqual([]);
  });

  test("1,000 interleaved messages each way keep their order per direction", () => {
    const { client, target } = setup();
    for (let i = 0; i < 1000; i++) {
      client.receive(`c${i}`);
      target.receive(`t${i}`);
    }
    expect(target.sent).toEqual(Array.from({ length: 1000 }, (_, i) => `c${i}`));
    expect(client.sent).toEqual(Array.from({ length: 1000 }, (_, i) => `t${i}`));
  });

  test("a 16 MB ArrayBuffer is handed over as is (same buffer, contents untouched)", () => {
    const { client, target, ended } = setup(); // default maxBufferedBytes: 64 MiB
    const big = new ArrayBuffer(16 * 1024 * 1024);
    const view = new Uint8Array(big);
    view[0] = 1;
    view[big.byteLength - 1] = 2;
    client.receive(big);
    expect(target.sent).toHaveLength(1);
    expect(target.sent[0]).toBe(big);
    expect(big.byteLength).toBe(16 * 1024 * 1024); // not transferred/detached
    expect([view[0], view[big.byteLength - 1]]).toEqual([1, 2]);
    expect(ended).toEqual([]);
  });

  test("a Uint8Array view is forwarded as the same view (not sliced to its own buffer)", () => {
    const { client, target } = setup();
    const backing = new Uint8Array([0, 1, 2, 3, 4, 5]);
    const view = backing.subarray(2, 4);
    target.receive(view);
    expect(client.sent[0]).toBe(view);
  });

  test("messages that arrived before the relay attached are delivered first, in order", () => {
    const { client, target } = setup({}, {
      beforeRelay: (c, t) => {
        c.receive("early-1");
        c.receive("early-2");
        t.receive("from-target-early");
      },
    });
    client.receive("late");
    expect(target.sent).toEqual(["early-1", "early-2", "late"]);
    expect(client.sent).toEqual(["from-target-early"]);
    expect(client.attached && target.attached).toBe(true);
  });

  test("nothing is forwarded after the relay ended", () => {
    const { client, target, relay } = setup();
    relay.close(1001, "shutdown");
    client.receive("late");
    target.receive("late");
    expect(target.sent).toEqual([]);
    expect(client.sent).toEqual([]);
  });
});
