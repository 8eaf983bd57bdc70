/**
 * Who the client is and which scheme it used, as rules, `ip_hash`, the
 * forwarding headers and redirects see them: the connected peer, or, when the
 * peer is a trusted proxy, the nearest untrusted address in X-Forwarded-For
 * (nginx realip with `real_ip_recursive on`) and its X-Forwarded-Proto.
 */
import type { Context } from "hono";
import { cidrMatcher } from "../net/ip.ts";

export interface ClientAddress {
  /** The connected peer (the runtime's, never a header's except on Workers, where the edge sets it). */
  readonly peer: string | undefined;
  /** The client: the peer, or the nearest untrusted X-Forwarded-For hop behind trusted proxies. */
  readonly client: string | undefined;
  /** The peer is a configured trusted proxy: its forwarding headers are believed and appended to. */
  readonly trusted: boolean;
}

export type ClientAddressOf = (c: Context) => ClientAddress;

/** `peerOf`: the platform's `clientAddress`; `trustedProxies`: CIDRs (`forwarding.trustedProxies`). */
export function clientAddressing(peerOf: (c: Context) => string | undefined, trustedProxies: readonly string[]): ClientAddressOf {
  const isTrusted = cidrMatcher(trustedProxies);
  return (c) => {
    const peer = peerOf(c);
    const trusted = isTrusted(peer);
    if (!trusted) return { peer, client: peer, trusted };
    const xff = c.req.raw.headers.get("x-forwarded-for");
    if (!xff) return { peer, client: peer, trusted };
    const hops = xff.split(",").map((h) => h.trim()).filter(Boolean);
    for (let i = hops.length - 1; i >= 0; i--) if (!isTrusted(hops[i])) return { peer, client: hops[i], trusted };
    return { peer, client: hops[0] ?? peer, trusted };
  };
}

/** The scheme the client used: the URL's, or a trusted proxy's X-Forwarded-Proto. */
export function clientScheme(request: Request, trusted: boolean): "http" | "https" {
  if (trusted) {
    const p = request.headers.get("x-forwarded-proto")?.split(",")[0]?.trim().toLowerCase();
    if (p === "https" || p === "http") return p;
  }
  return request.url.startsWith("https:") ? "https" : "http";
}
