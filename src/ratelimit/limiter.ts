/**
 * One rate limit (a rule's `rateLimit`, or the config's): the key of each
 * request, its bucket's verdict, and what the client is told, with the
 * IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers: a
 * `RateLimit-Policy` of quota `q` per window `w` seconds, and `RateLimit`
 * with the `r` requests remaining and `t` seconds until the quota is whole
 * again) on every answer, and 429 with `Retry-After` (RFC 6585 §4) when the
 * bucket is empty.
 */
import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import { parseIp } from "../net/ip.ts";
import { TokenBuckets, type Verdict } from "./buckets.ts";
import type { RateLimitConfig } from "./schema.ts";
import type { SharedCounts } from "./sharing.ts";

const TEXT = { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" };

export class RateLimiter {
  readonly buckets: TokenBuckets;
  /** Present with `shared`: the exchange of counts with the other instances. */
  sharing: SharedCounts | undefined;
  /** The `RateLimit-Policy` field value. */
  private readonly policy: string;
  private readonly keyOf: (c: Context, clientIp: string | undefined) => string;

  constructor(
    /** The policy's name in the fields: `default`, or `rule-<priority>`. */
    readonly name: string,
    readonly config: RateLimitConfig,
  ) {
    const burst = config.burst ?? config.requests;
    this.buckets = new TokenBuckets(config.requests / (config.per * 1000), burst, config.maxKeys, config.shared);
    // The bucket as a quota: `burst` requests per the time an empty bucket takes to fill, so that
    // `r` (tokens left) never exceeds `q`. `w` is whole seconds, one at least.
    this.policy = `"${name}";q=${burst};w=${Math.max(1, Math.ceil((burst * config.per) / config.requests))}`;
    this.keyOf = keyFunction(config);
  }

  /** Take a token for this request. */
  check(c: Context, clientIp: string | undefined, now: number): Verdict {
    return this.buckets.take(this.keyOf(c, clientIp), now);
  }

  /** The fields every answer carries, allowed or not. */
  annotate(headers: Headers, v: Verdict): void {
    headers.set("ratelimit-policy", this.policy);
    headers.set("ratelimit", `"${this.name}";r=${v.remaining};t=${Math.ceil(v.reset)}`);
  }

  /** 429: the key's bucket is empty; `Retry-After` is when its next token comes. */
  refuse(v: Verdict): Response {
    const response = new Response("429 Too Many Requests\n", {
      status: 429,
      headers: { ...TEXT, "retry-after": String(Math.max(1, Math.ceil(v.retryAfter))) },
    });
    this.annotate(response.headers, v);
    return response;
  }
}

/**
 * At most this many characters of a key are kept as they are; a longer one (an 8 KB header) is
 * kept as its digest, so that `maxKeys` bounds memory whatever clients send.
 */
const KEY_CHARS = 64;

/** FNV-1a twice over (two seeds): 64 bits, collisions irrelevant for buckets. */
function digest(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
  }
  return (a >>> 0).toString(36) + "." + (b >>> 0).toString(36);
}

const bounded = (key: string) => (key.length <= KEY_CHARS ? key : `${key.slice(0, 12)}#${digest(key)}`);

/**
 * An IPv6 client is counted by its /64, the block a single host or site is given (RFC 6177): a
 * client with a /64 would otherwise have 2^64 fresh buckets.
 */
function clientKey(ip: string | undefined): string {
  if (ip === undefined) return "ip ";
  if (!ip.includes(":")) return `ip ${ip}`;
  const bytes = parseIp(ip);
  if (bytes === undefined || bytes.length !== 16) return bounded(`ip ${ip}`);
  let out = "ip6 ";
  for (let i = 0; i < 8; i += 2) out += ((bytes[i]! << 8) | bytes[i + 1]!).toString(16) + (i < 6 ? ":" : "::/64");
  return out;
}

/** A request's key. Prefixed by kind, so an API key can never share a bucket with an address. */
function keyFunction(config: RateLimitConfig): (c: Context, clientIp: string | undefined) => string {
  const byIp = clientKey;
  const k = config.key;
  switch (k.source) {
    case "client_ip":
      return (_c, ip) => byIp(ip);
    case "header": {
      const name = k.name;
      // Without the header, the client's address: leaving it out must not be a way around the limit.
      return (c, ip) => {
        const value = c.req.raw.headers.get(name);
        return value === null ? byIp(ip) : bounded(`header ${value}`);
      };
    }
    case "cookie": {
      const name = k.name;
      return (c, ip) => {
        const value = getCookie(c, name);
        return value === undefined ? byIp(ip) : bounded(`cookie ${value}`);
      };
    }
    case "path":
      return (c) => bounded(`path ${c.req.path}`);
  }
}
