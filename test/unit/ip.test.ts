import { describe, expect, test } from "bun:test";
import { cidrMatcher, parseCidr, parseIp } from "../../src/net/ip.ts";

describe("ip", () => {
  test("parses IPv4, IPv6, mapped and bracketed forms", () => {
    expect([...parseIp("10.1.2.3")!]).toEqual([10, 1, 2, 3]);
    expect([...parseIp("::ffff:10.1.2.3")!]).toEqual([10, 1, 2, 3]);
    expect(parseIp("[::1]")!.length).toBe(16);
    expect(parseIp("2001:db8::1")![15]).toBe(1);
    for (const bad of ["1.2.3", "256.1.1.1", "1::2::3", "g::1", "", "1.2.3.4.5", "01234::"]) expect(parseIp(bad)).toBeUndefined();
  });
  test("one parser with strategies/ip.ts: its strict forms hold here too", () => {
    expect([...parseIp("fe80::1%eth0")!]).toEqual([0xfe, 0x80, ...new Array(13).fill(0), 1]);
    expect([...parseIp("[::ffff:10.1.2.3]")!]).toEqual([10, 1, 2, 3]);
    // leading zeros (octal to inet_aton), an IPv4 part not in the last 32 bits, IPv4 with IPv6-only syntax
    for (const bad of ["010.1.1.1", "10.1.1.01", "::ffff:010.1.2.3", "1.2.3.4::", "1.2.3.4::5", "[1.2.3.4]", "1.2.3.4%eth0"]) {
      expect(parseIp(bad)).toBeUndefined();
    }
    // a fresh array each call: a caller may keep it
    const a = parseIp("10.1.2.3")!;
    parseIp("::ffff:192.168.0.1");
    expect([...a]).toEqual([10, 1, 2, 3]);
  });
  test("CIDR matching", () => {
    const m = cidrMatcher(["10.0.0.0/8", "192.168.1.0/24", "2001:db8::/32", "127.0.0.1"]);
    expect(m("10.200.3.4")).toBe(true);
    expect(m("11.0.0.1")).toBe(false);
    expect(m("192.168.1.77")).toBe(true);
    expect(m("192.168.2.1")).toBe(false);
    expect(m("2001:db8:ffff::1")).toBe(true);
    expect(m("2001:db9::1")).toBe(false);
    expect(m("::ffff:127.0.0.1")).toBe(true);
    expect(m(undefined)).toBe(false);
    expect(parseCidr("10.0.0.0/33")).toBeUndefined();
    expect(parseCidr("::/0")!.prefix).toBe(0);
    for (const bad of ["010.0.0.0/8", "[10.0.0.0]/8", "10.0.0.0%eth0/8"]) expect(parseCidr(bad)).toBeUndefined();
    // a mapped-form CIDR is the IPv4 one
    expect(parseCidr("::ffff:10.0.0.0/104")).toEqual({ bytes: new Uint8Array([10, 0, 0, 0]), prefix: 8 });
    expect(cidrMatcher(["::ffff:10.0.0.0/104"])("10.9.8.7")).toBe(true);
  });
});
