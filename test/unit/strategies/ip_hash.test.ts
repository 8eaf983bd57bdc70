import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ipHash } from "../../../strategies/ip_hash.ts";
import { parseIp } from "../../../strategies/ip.ts";
import { weightedRoundRobin } from "../../../strategies/weighted_round_robin.ts";
import { makeCtx, picks, targetsOf } from "./helpers.ts";

/**
 * Plain reference of nginx's ip_hash for one pick: bytes in, linear weight
 * walk, re-hash while the peer is unsuitable, `++tries > 20` -> give up (null).
 */
function referenceIpHash(bytes: number[], weights: number[], ok: (p: number) => boolean): number | null {
  const total = weights.reduce((a, b) => a + b, 0);
  let hash = 89;
  let tries = 0;
  for (;;) {
    for (const b of bytes) hash = (hash * 113 + b) % 6271;
    let w = hash % total;
    let p = 0;
    while (w >= weights[p]!) {
      w -= weights[p]!;
      p++;
    }
    if (ok(p)) return p;
    if (++tries > 20) return null;
  }
}

const v4 = (s: string) => s.split(".").slice(0, 3).map(Number);

describe("parseIp", () => {
  const buf = new Uint8Array(16);
  const parse = (s: string) => {
    const n = parseIp(s, buf);
    return n === 0 ? null : Array.from(buf.subarray(0, n));
  };

  test("IPv4", () => {
    expect(parse("192.168.1.10")).toEqual([192, 168, 1, 10]);
    expect(parse("0.0.0.0")).toEqual([0, 0, 0, 0]);
    expect(parse("255.255.255.255")).toEqual([255, 255, 255, 255]);
    for (const bad of ["256.1.1.1", "1.2.3", "1.2.3.4.5", "1..2.3", "01.2.3.4", "1.2.3.4 ", "a.b.c.d", "", "1.2.3.-4", "[1.2.3.4]", "1.2.3.4%eth0"]) {
      expect(parse(bad)).toBeNull();
    }
  });

  test("IPv6, compressed forms, embedded IPv4, zones, brackets", () => {
    expect(parse("2001:db8::1")).toEqual([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    expect(parse("::1")).toEqual([...new Array(15).fill(0), 1]);
    expect(parse("::")).toEqual(new Array(16).fill(0));
    expect(parse("fe80::1%eth0")).toEqual([0xfe, 0x80, ...new Array(13).fill(0), 1]);
    expect(parse("[2001:db8::1]")).toEqual(parse("2001:db8::1"));
    expect(parse("1:2:3:4:5:6:7:8")).toEqual([0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]);
    expect(parse("1::")).toEqual([0, 1, ...new Array(14).fill(0)]);
    expect(parse("64:ff9b::192.0.2.33")).toEqual([0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 192, 0, 2, 33]);
    for (
      const bad of ["1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", ":1", "1:", "1:2:3:4:5:6:7", "g::1", "::1.2.3", "1.2.3.4::", "1.2.3.4::5", "::ffff:01.2.3.4"]
    ) {
      expect(parse(bad)).toBeNull();
    }
  });

  test("IPv4-mapped IPv6 is IPv4", () => {
    expect(parse("::ffff:192.168.1.10")).toEqual([192, 168, 1, 10]);
    expect(parse("::FFFF:c0a8:010a")).toEqual([192, 168, 1, 10]);
  });
});

describe("ip_hash (nginx)", () => {
  test("known nginx hash values (hand-computed) pick the nginx peer", () => {
    // 192.168.1.x: (89*113+192)%6271 = 3978, (3978*113+168)%6271 = 4441, (4441*113+1)%6271 = 154
    expect(referenceIpHash([192, 168, 1], [1], () => true)).toBe(0);
    const s = ipHash(targetsOf(1, 1, 1));
    expect(s.pick(makeCtx({ key: "192.168.1.10" }))).toBe(154 % 3);
    // weights 2,2,1 (total 5): 154 % 5 = 4 -> past 2 and 2 -> the third peer
    expect(ipHash(targetsOf(2, 2, 1)).pick(makeCtx({ key: "192.168.1.10" }))).toBe(2);
  });

  test("matches the plain reference for random IPv4/IPv6 clients and weights", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 8 }),
        fc.oneof(fc.ipV4(), fc.ipV6()),
        (weights, ip) => {
          const buf = new Uint8Array(16);
          const len = parseIp(ip, buf);
          expect(len).not.toBe(0);
          const bytes = Array.from(buf.subarray(0, len === 4 ? 3 : 16));
          const expected = referenceIpHash(bytes, weights, () => true);
          expect(ipHash(targetsOf(...weights)).pick(makeCtx({ key: ip }))).toBe(expected!);
        },
      ),
      { numRuns: 500 },
    );
  });

  test("same /24 -> same target; IPv4-mapped form hashes like IPv4", () => {
    const s = ipHash(targetsOf(1, 1, 1, 1, 1));
    const a = s.pick(makeCtx({ key: "10.20.30.1" }));
    for (const ip of ["10.20.30.2", "10.20.30.254", "::ffff:10.20.30.77"]) expect(s.pick(makeCtx({ key: ip }))).toBe(a);
  });

  test("IPv6 hashes all 16 bytes", () => {
    const weights = [1, 1, 1, 1, 1, 1, 1];
    const s = ipHash(targetsOf(...weights));
    const ip = "2001:db8:85a3::8a2e:370:7334";
    const bytes = [0x20, 0x01, 0x0d, 0xb8, 0x85, 0xa3, 0, 0, 0, 0, 0x8a, 0x2e, 0x03, 0x70, 0x73, 0x34];
    expect(s.pick(makeCtx({ key: ip }))).toBe(referenceIpHash(bytes, weights, () => true)!);
  });

  test("unavailable or tried target: nginx keeps hashing from the current value", () => {
    const weights = [1, 1, 1, 1];
    const s = ipHash(targetsOf(...weights));
    const bytes = v4("172.16.5.9");
    const first = referenceIpHash(bytes, weights, () => true)!;
    const ctx = makeCtx({ key: "172.16.5.9", unavailable: [first] });
    const second = referenceIpHash(bytes, weights, (p) => p !== first)!;
    expect(second).not.toBe(first);
    expect(s.pick(ctx)).toBe(second);
    // a retry that marks `second` tried continues the same chain
    ctx.triedSet.add(second);
    expect(s.pick(ctx)).toBe(referenceIpHash(bytes, weights, (p) => p !== first && p !== second)!);
  });

  test("after 21 unsuitable rounds it falls back to weighted round robin", () => {
    // Only peer 3 is eligible; find a client whose chain misses it 21 times.
    const weights = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 100];
    const unavailable = weights.map((_, i) => i).filter((i) => i !== 3 && i !== 39);
    let client = "";
    for (let a = 0; a < 256 && !client; a++) {
      const ip = `10.${a}.0.1`;
      if (referenceIpHash(v4(ip), weights, (p) => p === 3) === null) client = ip;
    }
    expect(client).not.toBe("");
    const ctx = makeCtx({ key: client, unavailable: [...unavailable, 39] });
    expect(ipHash(targetsOf(...weights)).pick(ctx)).toBe(3); // found by the round-robin fallback
  });

  test("missing or unparseable key -> weighted round robin", () => {
    const s = ipHash(targetsOf(5, 1, 1));
    const ctx = makeCtx({ key: undefined });
    expect(picks(s, ctx, 7)).toEqual(picks(weightedRoundRobin(targetsOf(5, 1, 1)), makeCtx(), 7));
    ctx.key = "not-an-ip";
    expect(s.pick(ctx)).toBe(0);
  });

  test("weight 0 never selected by the hash walk; nothing eligible -> -1", () => {
    const s = ipHash(targetsOf(0, 1, 0));
    for (let a = 0; a < 50; a++) expect(s.pick(makeCtx({ key: `192.0.${a}.1` }))).toBe(1);
    expect(s.pick(makeCtx({ key: "192.0.2.1", unavailable: [1] }))).toBe(-1);
  });
});
