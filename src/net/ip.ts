/**
 * CIDR parsing and matching on plain byte arrays, for trusted-proxy checks and
 * `sourceIp` rule conditions. Web-standard only (no node:net).
 * The address parser is strategies/ip.ts's, the one parser `ip_hash` keys on
 * (strategies import nothing from src/, so it lives there). It treats
 * IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, what dual-stack sockets
 * report) as the IPv4 address, as nginx's realip module does.
 */
import { parseIp as parseIpInto } from "../../strategies/ip.ts";

/**
 * 4 bytes for IPv4, 16 for IPv6; undefined when the text is not an address.
 * A fresh array each call (callers keep it, e.g. a request's parsed client IP).
 */
export function parseIp(text: string): Uint8Array | undefined {
  const out = new Uint8Array(16);
  const n = parseIpInto(text, out);
  return n === 0 ? undefined : n === 16 ? out : out.slice(0, 4);
}

export interface Cidr {
  readonly bytes: Uint8Array;
  readonly prefix: number;
}

/** `10.0.0.0/8`, `::1/128`, or a bare address (full-length prefix). */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf("/");
  const addr = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (!addr) return undefined;
  const max = addr.length * 8;
  let prefix = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p)) return undefined;
    prefix = Number(p);
    // `::ffff:10.0.0.0/104` style prefixes refer to the mapped form; shift them to IPv4.
    if (text.slice(0, slash).includes(":") && addr.length === 4) prefix -= 96;
    if (prefix < 0 || prefix > max) return undefined;
  }
  return { bytes: addr, prefix };
}

export function cidrContains(cidr: Cidr, ip: Uint8Array): boolean {
  if (cidr.bytes.length !== ip.length) return false;
  let bits = cidr.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((cidr.bytes[i]! & mask) !== (ip[i]! & mask)) return false;
  }
  return true;
}

/** A compiled list of CIDRs; `matches` takes an address string. */
export function cidrMatcher(cidrs: readonly string[]): (ip: string | undefined) => boolean {
  const parsed = cidrs.map((c) => {
    const p = parseCidr(c);
    if (!p) throw new Error(`invalid CIDR ${JSON.stringify(c)}`);
    return p;
  });
  if (parsed.length === 0) return () => false;
  return (ip) => {
    if (!ip) return false;
    const bytes = parseIp(ip);
    if (!bytes) return false;
    for (const c of parsed) if (cidrContains(c, bytes)) return true;
    return false;
  };
}
