/**
 * What every listener refuses before routing, alike on every runtime.
 *
 * Each runtime's HTTP parser lets different malformed requests through (Bun
 * and Deno pass a duplicated `Content-Length: 5` as "5, 5"; Deno passes a
 * raw CONNECT). Those must be answered here as the client's error: reaching
 * the upstream client they were refused there and counted against the target,
 * so three such requests from anyone took every target out. RFC 9112 names
 * what a server must reject:
 *   - §3.2: more than one Host field line, or a Host with an invalid value
 *     (anything but `uri-host [ ":" port ]`, RFC 3986 §3.2.2-3.2.3). A `/`,
 *     `?`, `#` or `@` in it also changed how Bun built `request.url`.
 *   - §6.3: a Content-Length that is not a single decimal number (several
 *     field lines, even identical ones, arrive joined as "5, 5").
 *   - §6.1: Transfer-Encoding together with Content-Length (a smuggling
 *     signature; the RFC lets a server reject it, as HAProxy does).
 *   - CONNECT (RFC 9110 §9.3.6) asks for a tunnel, which a reverse proxy
 *     does not offer: 501, as for any method the server does not implement.
 */
import { badRequest, notImplemented } from "../proxy/errors.ts";

/** reg-name, IPv4 or an IP literal in brackets, then an optional port of at most five digits. */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+;=%]+)(?::([0-9]{0,5}))?$/;
const DIGITS = /^[0-9]+$/;

/** Why the Host field value is invalid, or undefined (a missing Host is left to the runtime: HTTP/1.0 may omit it). */
export function hostProblem(host: string | null): string | undefined {
  if (host === null) return undefined;
  // Field lines of one name arrive joined by ", " (RFC 9110 §5.3); a comma is also no host character we accept.
  if (host.includes(",")) return "more than one Host";
  const m = HOST.exec(host);
  if (!m) return "invalid Host";
  const port = m[1];
  if (port !== undefined && port !== "" && Number(port) > 65535) return "invalid port in Host";
  return undefined;
}

/** The answer to a request no listener may route, or undefined to go on. */
export function rejectAtEdge(request: Request): Response | undefined {
  if (request.method === "CONNECT") return notImplemented();
  const headers = request.headers;
  const host = hostProblem(headers.get("host"));
  if (host) return badRequest(host);
  const length = headers.get("content-length");
  if (length !== null) {
    if (!DIGITS.test(length) || !Number.isSafeInteger(Number(length))) return badRequest("invalid Content-Length");
    if (headers.has("transfer-encoding")) return badRequest("Content-Length with Transfer-Encoding");
  }
  return undefined;
}
