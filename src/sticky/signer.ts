/**
 * Signed, expiring cookie tokens: HMAC-SHA256 (crypto.subtle, the key
 * imported once) over `payload|exp`.
 *
 *   token = base64url(payload + "|" + exp) + "." + base64url(HMAC(key, first part))
 *
 * `verify` returns the payload, or undefined when the token is malformed,
 * tampered with or expired (`exp <= now`). The MAC comparison is
 * crypto.subtle.verify's, which is constant-time. Verified tokens are cached
 * (a binding cookie is presented on every request of a session, so the MAC
 * check is on the hot path); a cache hit still checks the expiry, so caching
 * never extends a token's life, and only successful verifications are cached.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export function base64url(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]!);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function fromBase64url(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return undefined;
  const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export interface OpenedToken {
  readonly payload: string;
  readonly expiresAtSec: number;
}

export interface CookieSigner {
  sign(payload: string, expiresAtSec: number): Promise<string>;
  /** The payload of a valid token, else undefined. */
  verify(token: string, nowSec: number): Promise<string | undefined>;
  /** Like verify, with the token's expiry (for renewal decisions). */
  open(token: string, nowSec: number): Promise<OpenedToken | undefined>;
}

export interface SignerOptions {
  /** Verified tokens kept (oldest evicted first). */
  readonly cacheSize?: number;
}

export async function importHmacKey(secret: string): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
}

export async function createCookieSigner(secret: string, options: SignerOptions = {}): Promise<CookieSigner> {
  const key = await importHmacKey(secret);
  const cacheSize = options.cacheSize ?? 10_000;
  const cache = new Map<string, OpenedToken>();

  const open = async (token: string, nowSec: number): Promise<OpenedToken | undefined> => {
    const hit = cache.get(token);
    if (hit) {
      if (hit.expiresAtSec > nowSec) return hit;
      cache.delete(token);
      return undefined;
    }
    const dot = token.indexOf(".");
    if (dot <= 0 || token.length > 512) return undefined;
    const body = token.slice(0, dot);
    const mac = fromBase64url(token.slice(dot + 1));
    if (!mac || mac.length !== 32) return undefined;
    if (!(await crypto.subtle.verify("HMAC", key, mac, encoder.encode(body)))) return undefined;
    const raw = fromBase64url(body);
    if (!raw) return undefined;
    let text: string;
    try {
      text = decoder.decode(raw);
    } catch {
      return undefined;
    }
    const bar = text.lastIndexOf("|");
    const expText = text.slice(bar + 1);
    if (bar < 0 || !/^\d{1,15}$/.test(expText)) return undefined;
    const opened = { payload: text.slice(0, bar), expiresAtSec: Number(expText) };
    if (opened.expiresAtSec <= nowSec) return undefined;
    if (cache.size >= cacheSize) cache.delete(cache.keys().next().value!);
    cache.set(token, opened);
    return opened;
  };

  return {
    async sign(payload, expiresAtSec) {
      const body = base64url(encoder.encode(`${payload}|${Math.floor(expiresAtSec)}`));
      const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(body)));
      return `${body}.${base64url(mac)}`;
    },

    async verify(token, nowSec) {
      return (await open(token, nowSec))?.payload;
    },

    open,
  };
}
