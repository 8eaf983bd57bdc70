/**
 * Textual IP address -> bytes: the one IP parser of Fulcrum. `ip_hash` keys on
 * it, and src/net/ip.ts builds trusted-proxy, `sourceIp` and `listen.host`
 * checks on it (strategies import nothing from src/, so it lives here). No
 * allocation: the caller owns a 16-byte buffer.
 *
 * Accepts dotted-quad IPv4 and RFC 4291 IPv6 (with `::`, an embedded IPv4 tail
 * in the last 32 bits, an optional `%zone`, optional surrounding brackets).
 * Brackets and zones are IPv6 syntax (RFC 3986 IP-literal, RFC 4007), so
 * `[1.2.3.4]` and `1.2.3.4%eth0` are refused. IPv4 octets with a leading zero
 * are refused: inet_aton reads `010.0.0.1` as octal (8.0.0.1), so any reading
 * of it would disagree with some other software on the path, and a CIDR check
 * must not guess.
 * IPv4-mapped IPv6 (`::ffff:a.b.c.d`, also written `::ffff:0102:0304`) is
 * reported as IPv4: dual-stack sockets (Node, Bun) hand IPv4 clients over in
 * that form, and the same client must hash and match the same whichever way it
 * came in.
 */

/** Parse `s` into `out`. Returns 4 (IPv4 in out[0..3]), 16 (IPv6) or 0 (not an IP). */
export function parseIp(s: string, out: Uint8Array): 0 | 4 | 16 {
  let start = 0;
  let end = s.length;
  if (end > 1 && s.charCodeAt(0) === 91 /* [ */ && s.charCodeAt(end - 1) === 93 /* ] */) {
    start = 1;
    end--;
  }
  const pct = s.indexOf("%", start);
  if (pct >= 0 && pct < end) end = pct;
  if (end - start < 2) return 0;
  const colon = s.indexOf(":", start);
  // No colon: IPv4, which is the whole text (no brackets, no zone).
  if (colon < 0 || colon >= end) return parseV4(s, 0, s.length, out, 0) ? 4 : 0;
  if (!parseV6(s, start, end, out)) return 0;
  for (let k = 0; k < 10; k++) if (out[k] !== 0) return 16;
  if (out[10] !== 0xff || out[11] !== 0xff) return 16;
  out[0] = out[12]!;
  out[1] = out[13]!;
  out[2] = out[14]!;
  out[3] = out[15]!;
  return 4;
}

/** Dotted quad s[start, end) into out[at .. at+4). Decimal only, no leading `+`, each part 0..255. */
function parseV4(s: string, start: number, end: number, out: Uint8Array, at: number): boolean {
  let part = 0;
  let val = 0;
  let digits = 0;
  for (let p = start; p <= end; p++) {
    const c = p === end ? 46 /* . */ : s.charCodeAt(p);
    if (c >= 48 && c <= 57) {
      if (digits > 0 && val === 0) return false; // no leading zeros (ambiguous octal)
      val = val * 10 + (c - 48);
      if (++digits > 3 || val > 255) return false;
    } else if (c === 46) {
      if (digits === 0 || part > 3) return false;
      out[at + part++] = val;
      val = 0;
      digits = 0;
    } else {
      return false;
    }
  }
  return part === 4;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

function parseV6(s: string, start: number, end: number, out: Uint8Array): boolean {
  let groups = 0; // 16-bit groups written so far
  let gap = -1; // group index where `::` sits
  let p = start;
  if (s.charCodeAt(p) === 58 /* : */) {
    if (s.charCodeAt(p + 1) !== 58) return false;
    gap = 0;
    p += 2;
    if (p === end) {
      out.fill(0);
      return true;
    }
  }
  while (p < end) {
    if (groups >= 8) return false;
    // An embedded IPv4 tail takes the last two groups.
    let q = p;
    while (q < end && s.charCodeAt(q) !== 58 && s.charCodeAt(q) !== 46) q++;
    if (q < end && s.charCodeAt(q) === 46) {
      if (groups > 6 || !parseV4(s, p, end, out, groups * 2)) return false;
      groups += 2;
      p = end;
      break;
    }
    let val = 0;
    let digits = 0;
    while (p < end) {
      const h = hexValue(s.charCodeAt(p));
      if (h < 0) break;
      val = (val << 4) | h;
      if (++digits > 4) return false;
      p++;
    }
    if (digits === 0) return false;
    out[groups * 2] = val >> 8;
    out[groups * 2 + 1] = val & 0xff;
    groups++;
    if (p === end) break;
    if (s.charCodeAt(p) !== 58) return false;
    p++;
    if (s.charCodeAt(p) === 58) {
      if (gap >= 0) return false; // a second `::`
      gap = groups;
      p++;
      if (p === end) break;
    } else if (p === end) {
      return false; // trailing single colon
    }
  }
  if (gap < 0) return groups === 8;
  if (groups > 7) return false;
  // Move the groups after the gap to the end and zero the gap.
  const tail = (groups - gap) * 2;
  out.copyWithin(16 - tail, gap * 2, groups * 2);
  out.fill(0, gap * 2, 16 - tail);
  return true;
}
