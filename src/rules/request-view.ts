/**
 * What rules look at in a request, computed lazily and at most once per
 * request: most requests are decided by one or two conditions, so the
 * normalised path, the parsed query or a lower-cased header are only built
 * when a candidate rule asks for them.
 */
import { parseIp } from "../net/ip.ts";
import { normalizePath } from "./normalize-path.ts";
import type { Geo } from "../platform.ts";

/** The request as the router sees it (the caller fills it from the Hono context). */
export interface RuleRequest {
  readonly method: string;
  /** Host header as sent (may carry a port), or null when absent. */
  readonly host: string | null;
  /** Raw path as sent, without the query. */
  readonly path: string;
  /** Raw query without the `?` ("" when none). */
  readonly query: string;
  readonly headers: Headers;
  /** The client address after trusted-proxy handling (what sourceIp matches). */
  readonly clientIp: string | undefined;
  /** Where the client is, asked only by geo conditions (present where a router has some). */
  readonly geo?: () => Geo | undefined;
}

/**
 * `Example.COM:8080` → `example.com`, `[::1]:80` → `[::1]`, and a trailing
 * root dot (`example.com.`, RFC 1034 §3.1 absolute name) is dropped, so the
 * same host cannot slip past a hostHeader rule spelled differently.
 */
export function hostWithoutPort(host: string): string {
  let h = host;
  if (h.startsWith("[")) {
    const end = h.indexOf("]");
    h = end < 0 ? h : h.slice(0, end + 1);
  } else {
    const colon = h.indexOf(":");
    if (colon >= 0) h = h.slice(0, colon);
  }
  h = h.toLowerCase();
  return h.endsWith(".") ? h.slice(0, -1) : h;
}

export interface QueryPair {
  readonly key: string;
  readonly value: string;
}

const UNSET = Symbol("unset");

export class RequestView {
  private _host: string | null | typeof UNSET = UNSET;
  private _path: string | undefined;
  private _query: QueryPair[] | undefined;
  private _headers: Map<string, string | null> | undefined;
  private _ip: Uint8Array | null | undefined;

  private _geo: Geo | undefined | typeof UNSET = UNSET;

  constructor(readonly req: RuleRequest) {}

  /** The client's location, once per request; undefined when unknown. */
  get geo(): Geo | undefined {
    if (this._geo === UNSET) this._geo = this.req.geo?.();
    return this._geo;
  }

  /** Lower-cased host without port, or null without a Host header. */
  get host(): string | null {
    if (this._host === UNSET) this._host = this.req.host === null || this.req.host === "" ? null : hostWithoutPort(this.req.host);
    return this._host;
  }

  /** Normalised path (see normalize-path.ts). */
  get path(): string {
    return (this._path ??= normalizePath(this.req.path));
  }

  /** Percent-decoded (form rules: `+` is a space), lower-cased pairs; ALB compares query strings case-insensitively. */
  get query(): readonly QueryPair[] {
    if (this._query === undefined) {
      const pairs: QueryPair[] = [];
      if (this.req.query !== "") {
        for (const part of this.req.query.split("&")) {
          if (part === "") continue;
          const eq = part.indexOf("=");
          const key = eq < 0 ? part : part.slice(0, eq);
          const value = eq < 0 ? "" : part.slice(eq + 1);
          pairs.push({ key: formDecode(key).toLowerCase(), value: formDecode(value).toLowerCase() });
        }
      }
      this._query = pairs;
    }
    return this._query;
  }

  /** The client address as bytes (parsed once for all sourceIp conditions), or null. */
  get clientIpBytes(): Uint8Array | null {
    if (this._ip === undefined) this._ip = (this.req.clientIp && parseIp(this.req.clientIp)) || null;
    return this._ip;
  }

  /** Lower-cased header value (several lines joined by `, ` as Headers does), or null. */
  header(lowerName: string): string | null {
    const cache = (this._headers ??= new Map());
    let value = cache.get(lowerName);
    if (value === undefined) {
      value = this.req.headers.get(lowerName)?.toLowerCase() ?? null;
      cache.set(lowerName, value);
    }
    return value;
  }
}

/**
 * application/x-www-form-urlencoded decoding (WHATWG URL §5.1, what
 * URLSearchParams does): `+` is a space, `%XX` a byte, malformed escapes stay
 * as they are. Hand-rolled because a URLSearchParams per request costs more
 * than the common case needs (most queries have no escapes).
 */
export function formDecode(s: string): string {
  if (s.includes("+")) s = s.replace(/\+/g, " ");
  if (!s.includes("%")) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    // Malformed or non-UTF-8 escapes: let URLSearchParams apply its lenient rules.
    return new URLSearchParams(`a=${s.replace(/ /g, "+").replace(/&/g, "%26").replace(/=/g, "%3D")}`).get("a") ?? s;
  }
}
