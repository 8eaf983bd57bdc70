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
    // `w` is whole seconds; a window under one second is advertised as one.
    this.policy = `"${name}";q=${config.requests};w=${Math.max(1, Math.round(config.per))}`;
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

/** A request's key. Prefixed by kind, so an API key can never share a bucket with an address. */
function keyFunction(config: RateLimitConfig): (c: Context, clientIp: string | undefined) => string {
  const byIp = (ip: string | undefined) => `ip ${ip ?? ""}`;
  const k = config.key;
  switch (k.source) {
    case "client_ip":
      return (_c, ip) => byIp(ip);
    case "header": {
      const name = k.name;
      // Without the header, the client's address: leaving it out must not be a way around the limit.
      return (c, ip) => {
        const value = c.req.raw.headers.get(name);
        return value === null ? byIp(ip) : `header ${value}`;
      };
    }
    case "cookie": {
      const name = k.name;
      return (c, ip) => {
        const value = getCookie(c, name);
        return value === undefined ? byIp(ip) : `cookie ${value}`;
      };
    }
    case "path":
      return (c) => `path ${c.req.path}`;
  }
}
