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
  });
});
