/**
 * IPv4/IPv6 parsing and CIDR matching on plain byte arrays, for trusted-proxy
 * checks and `sourceIp` rule conditions. Web-standard only (no node:net).
 * IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, what dual-stack sockets
 * report) are treated as the IPv4 address, as nginx's realip module does.
 */

/** 4 bytes for IPv4, 16 for IPv6; undefined when the text is not an address. */
export function parseIp(text: string): Uint8Array | undefined {
  if (text.startsWith("[") && text.endsWith("]")) text = text.slice(1, -1);
  const zone = text.indexOf("%");
  if (zone >= 0) text = text.slice(0, zone);
  if (text.includes(":")) {
    const v6 = parseIpv6(text);
    if (v6 && isV4Mapped(v6)) return v6.slice(12);
    return v6;
  }
  return parseIpv4(text);
}

function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseIpv6(text: string): Uint8Array | undefined {
  const out = new Uint8Array(16);
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const groups: number[] = [];
  const pushGroups = (list: string[], into: number[]): boolean => {
    for (let i = 0; i < list.length; i++) {
      const g = list[i]!;
      if (g.includes(".") && i === list.length - 1) {
        const v4 = parseIpv4(g);
        if (!v4) return false;
        into.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return false;
        into.push(parseInt(g, 16));
      }
    }
    return true;
  };
  const tailGroups: number[] = [];
  if (!pushGroups(head, groups) || !pushGroups(tail, tailGroups)) return undefined;
  const total = groups.length + tailGroups.length;
  if (halves.length === 1 ? total !== 8 : total > 7) return undefined;
  const filled = [...groups, ...new Array(8 - total).fill(0), ...tailGroups];
  for (let i = 0; i < 8; i++) {
    out[i * 2] = filled[i]! >> 8;
    out[i * 2 + 1] = filled[i]! & 0xff;
  }
  return out;
}

function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
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
