/**
 * Header rewriting between client and target, in both directions.
 * Hop-by-hop headers are connection-specific and never forwarded (RFC 9110
 * §7.6.1), including any header that `Connection` names. Forwarding headers
 * follow nginx (`$proxy_add_x_forwarded_for`) for trusted peers and are
 * replaced, not appended to, for everyone else (Envoy `use_remote_address`).
 */
import type { ForwardingConfig } from "../config/schema.ts";

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/**
 * One pass over the headers present, deleting only what is there: most
 * messages carry none of these, and nine blind deletes cost more than the
 * scan (on Node every iteration also sorts, so the request side drops
 * untrusted forwarding headers, `alsoDrop`, in the same pass).
 */
export function stripHopByHop(headers: Headers, alsoDrop?: ReadonlySet<string>, keepTeTrailers = false): void {
  let found: string[] | undefined;
  headers.forEach((_value, name) => {
    if (HOP_BY_HOP.has(name) || alsoDrop?.has(name)) (found ??= []).push(name);
  });
  if (!found) return;
  const connection = headers.get("connection");
  if (connection) {
    for (const token of connection.split(",")) {
      const name = token.trim();
      if (name) headers.delete(name);
    }
  }
  // RFC 9110 §7.6.1 lets `TE: trailers` through (gRPC over HTTP/1.1 needs it).
  const te = keepTeTrailers ? headers.get("te") : null;
  for (const name of found) headers.delete(name);
  if (te !== null && te.trim().toLowerCase() === "trailers") headers.set("te", "trailers");
}

const FORWARDING = ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-real-ip", "forwarded"] as const;

export interface ClientFacts {
  /** Address of the connected peer, or undefined if the runtime cannot tell. */
  readonly ip: string | undefined;
  /** The client behind trusted proxies (nginx realip), for X-Real-IP; the peer when absent. */
  readonly realIp?: string | undefined;
  /** Whether that peer is a configured trusted proxy. */
  readonly trusted: boolean;
  /** Scheme the client used to reach the balancer. */
  readonly proto: "http" | "https";
  /** Host the client asked for (its Host header). */
  readonly host: string | null;
}

/** RFC 7239 §6: IPv6 nodes are bracketed and the value quoted. */
function forwardedNode(ip: string | undefined): string {
  if (!ip) return "unknown";
  return ip.includes(":") ? `"[${ip}]"` : ip;
}

function forwardedToken(value: string): string {
  return /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(value) ? value : `"${value.replace(/(["\\])/g, "\\$1")}"`;
}

/** Forwarding headers, dropped from untrusted clients' requests. */
export const FORWARDING_HEADERS: ReadonlySet<string> = new Set<string>(FORWARDING);

/** `untrustedDropped`: the caller already removed FORWARDING_HEADERS (stripHopByHop's `alsoDrop`). */
export function applyForwarding(headers: Headers, client: ClientFacts, cfg: Omit<ForwardingConfig, "geoHeaders">, untrustedDropped = false): void {
  if (!client.trusted && !untrustedDropped) {
    // Only what is there (one pass; blind deletes cost more than the scan).
    let found: string[] | undefined;
    headers.forEach((_v, name) => {
      if (FORWARDING_HEADERS.has(name)) (found ??= []).push(name);
    });
    if (found) { for (const name of found) headers.delete(name); }
  }
  // An untrusted client's forwarding headers are gone by now: nothing to read back (4 header calls fewer per request).
  const cleared = !client.trusted;
  if (cfg.xForwarded) {
    if (client.ip) {
      const prior = cleared ? null : headers.get("x-forwarded-for");
      headers.set("x-forwarded-for", prior ? `${prior}, ${client.ip}` : client.ip);
      if (cleared || !headers.has("x-real-ip")) headers.set("x-real-ip", client.realIp ?? client.ip);
    }
    if (cleared || !headers.has("x-forwarded-proto")) headers.set("x-forwarded-proto", client.proto);
    if (client.host && (cleared || !headers.has("x-forwarded-host"))) headers.set("x-forwarded-host", client.host);
  }
  if (cfg.forwarded) {
    let element = `for=${forwardedNode(client.ip)}`;
    if (client.host) element += `;host=${forwardedToken(client.host)}`;
    element += `;proto=${client.proto}`;
    const prior = cleared ? null : headers.get("forwarded");
    headers.set("forwarded", prior ? `${prior}, ${element}` : element);
  }
}

/** Printable ASCII, bounded: anything else from a client is replaced by a fresh id. */
const REQUEST_ID = /^[\x21-\x7e]{1,200}$/;

export function ensureRequestId(headers: Headers, name: string): string {
  const existing = headers.get(name);
  if (existing && REQUEST_ID.test(existing)) return existing;
  const id = crypto.randomUUID();
  headers.set(name, id);
  return id;
}
