/**
 * Host names and addresses a listener may bind, and which of them only this
 * machine can reach (loopback): what decides whether the admin API needs
 * credentials, as Caddy's admin endpoint is open on `localhost:2019` only.
 */
import { parseIp } from "./ip.ts";

const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** An IP literal, or a DNS name (RFC 1123 labels); a dotted all-digit name must be a valid IPv4 address (`256.1.1.1` is not). */
export function isBindableHost(host: string): boolean {
  if (parseIp(host) !== undefined) return true;
  if (host.length === 0 || host.length > 253 || /^[0-9.]+$/.test(host)) return false;
  return host.split(".").every((label) => LABEL.test(label));
}

/** 127.0.0.0/8, ::1 (and ::ffff:127.x), or `localhost` (RFC 6761: it resolves to loopback only). */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, "");
  if (h === "localhost" || h.endsWith(".localhost")) return true;
  const ip = parseIp(h.startsWith("[") && h.endsWith("]") ? h.slice(1, -1) : h);
  if (ip === undefined) return false;
  // parseIp reads ::ffff:127.0.0.1 as the IPv4 address.
  if (ip.length === 4) return ip[0] === 127;
  return ip.subarray(0, 15).every((b) => b === 0) && ip[15] === 1;
}

/** The address to reach a listener bound to `host` from this machine: loopback for a wildcard bind. */
export function dialHost(host: string): string {
  return host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
}
