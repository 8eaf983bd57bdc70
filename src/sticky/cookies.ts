/**
 * The small amount of cookie syntax stickiness needs (RFC 6265): reading one
 * cookie from a `Cookie` header, removing it (HAProxy `indirect`), writing a
 * `Set-Cookie` line, and reading the name and lifetime of a `Set-Cookie` line
 * an application sent. Hand-written rather than hono's `parse` because the
 * same scan must also *remove* a cookie while leaving the others byte for
 * byte, and because presence of an application cookie must not depend on its
 * value passing a validity regex.
 */

export interface CookieAttributes {
  readonly maxAge: number;
  readonly expires: Date;
  readonly path: string;
  readonly domain?: string | undefined;
  readonly secure: boolean;
  readonly httpOnly: boolean;
  readonly sameSite: "Strict" | "Lax" | "None";
}

/** Split a Cookie header into `name=value` pairs (RFC 6265 §5.4 uses "; ", browsers sometimes ";"). */
function pairs(header: string): string[] {
  return header.split(";");
}

function nameOf(pair: string): string {
  const eq = pair.indexOf("=");
  return (eq < 0 ? pair : pair.slice(0, eq)).trim();
}

function valueOf(pair: string): string {
  const eq = pair.indexOf("=");
  let v = eq < 0 ? "" : pair.slice(eq + 1).trim();
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
  return v;
}

/** The first `limit` values sent for `name` (a browser may send several, e.g. for different paths), most specific first. */
export function cookieValues(header: string | null, name: string, limit = Infinity): string[] {
  if (!header || !header.includes(name)) return [];
  const out: string[] = [];
  for (const pair of pairs(header)) {
    if (nameOf(pair) !== name) continue;
    out.push(valueOf(pair));
    if (out.length >= limit) break;
  }
  return out;
}

export function hasCookie(header: string | null, name: string): boolean {
  if (!header || !header.includes(name)) return false;
  for (const pair of pairs(header)) if (nameOf(pair) === name) return true;
  return false;
}

/** The Cookie header without `name`; null when nothing is left (the header is then dropped). */
export function withoutCookie(header: string | null, name: string): string | null {
  if (!header) return null;
  if (!header.includes(name)) return header;
  const kept = pairs(header).filter((pair) => nameOf(pair) !== name && pair.trim() !== "");
  if (kept.length === 0) return null;
  return kept.map((p) => p.trim()).join("; ");
}

/** `name=value; Max-Age=…; Expires=…; Path=…; Domain=…; Secure; HttpOnly; SameSite=…` (RFC 6265 §4.1). */
export function serializeSetCookie(name: string, value: string, a: CookieAttributes): string {
  let out = `${name}=${value}; Max-Age=${a.maxAge}; Expires=${a.expires.toUTCString()}; Path=${a.path}`;
  if (a.domain) out += `; Domain=${a.domain}`;
  if (a.secure) out += "; Secure";
  if (a.httpOnly) out += "; HttpOnly";
  out += `; SameSite=${a.sameSite}`;
  return out;
}

/** Name of the cookie a `Set-Cookie` line sets. */
export function setCookieName(line: string): string {
  const semi = line.indexOf(";");
  return nameOf(semi < 0 ? line : line.slice(0, semi));
}

/**
 * Does this `Set-Cookie` line delete its cookie rather than set it? An empty
 * value, `Max-Age` ≤ 0 (RFC 6265 §5.2.2), or an `Expires` in the past.
 */
export function setCookieDeletes(line: string, nowSec: number): boolean {
  const parts = line.split(";");
  if (valueOf(parts[0] ?? "") === "") return true;
  let expires: number | undefined;
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i]!;
    const eq = part.indexOf("=");
    const key = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? "" : part.slice(eq + 1).trim();
    // Max-Age wins over Expires (RFC 6265 §5.3 step 3).
    if (key === "max-age" && /^-?\d+$/.test(value)) return Number(value) <= 0;
    if (key === "expires") {
      const t = Date.parse(value);
      if (!Number.isNaN(t)) expires = t / 1000;
    }
  }
  return expires !== undefined && expires <= nowSec;
}
