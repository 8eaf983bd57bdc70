/**
 * Forward one request to a target group: pick a target, send the request
 * with its body streamed, and stream the response back unchanged except for
 * hop-by-hop headers. Failures map to what nginx sends: 502 when the target
 * refused or broke, 504 when it timed out, 503 when no target is usable.
 */
import type { Context } from "hono";
import type { Balancer } from "../balancer.ts";
import { UpstreamError, type UpstreamFailure } from "../platform.ts";
import type { TargetGroup, Target } from "../target-group.ts";
import { badGateway, gatewayTimeout, serviceUnavailable } from "./errors.ts";
import { applyForwarding, ensureRequestId, stripHopByHop } from "./headers.ts";

/** Path and query exactly as the client sent them: everything after the authority. */
export function rawPathAndQuery(url: string): string {
  const slash = url.indexOf("/", url.indexOf("//") + 2);
  return slash < 0 ? "/" : url.slice(slash);
}

/** Statuses whose responses never carry a body (RFC 9110 §6.4.1). */
function bodyless(method: string, status: number): boolean {
  return method === "HEAD" || status === 204 || status === 304 || (status >= 100 && status < 200);
}

const TIMEOUT = Symbol("upstream timeout");

export async function forward(balancer: Balancer, group: TargetGroup, c: Context): Promise<Response> {
  const { platform, config } = balancer;
  const request = c.req.raw;
  const clientIp = platform.clientAddress(c);
  const headers = new Headers(request.headers);
  stripHopByHop(headers);
  const requestId = ensureRequestId(headers, config.forwarding.requestIdHeader);
  const url = request.url;
  applyForwarding(
    headers,
    {
      ip: clientIp,
      trusted: balancer.isTrustedProxy(clientIp),
      proto: url.startsWith("https:") ? "https" : "http",
      host: request.headers.get("host"),
    },
    config.forwarding,
  );

  const tried = new Set<Target>();
  const target = group.select(c, clientIp, tried);
  if (!target) return withRequestId(serviceUnavailable(), config.forwarding.requestIdHeader, requestId);
  tried.add(target);
  if (group.config.hostHeader === "target") headers.set("host", target.host);

  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(TIMEOUT), group.responseTimeoutMs);
  const started = platform.now();
  target.begin();
  let upstream: Response;
  try {
    upstream = await platform.upstream({
      origin: target.origin,
      path: rawPathAndQuery(url),
      method: request.method,
      headers,
      body: request.method === "GET" || request.method === "HEAD" ? null : request.body,
      signal: abort.signal,
      connectTimeoutMs: group.connectTimeoutMs,
    });
  } catch (error) {
    const kind: UpstreamFailure =
      abort.signal.aborted && abort.signal.reason === TIMEOUT
        ? "timeout"
        : error instanceof UpstreamError
          ? error.kind
          : "connect";
    group.report(target, false, platform.now() - started);
    balancer.logUpstreamFailure(target, kind, error);
    const response = kind === "timeout" ? gatewayTimeout() : badGateway();
    return withRequestId(response, config.forwarding.requestIdHeader, requestId);
  } finally {
    clearTimeout(timer);
    target.end();
  }

  group.report(target, true, platform.now() - started);
  const responseHeaders = new Headers(upstream.headers);
  stripHopByHop(responseHeaders);
  if (!responseHeaders.has(config.forwarding.requestIdHeader)) {
    responseHeaders.set(config.forwarding.requestIdHeader, requestId);
  }
  const body = bodyless(request.method, upstream.status) ? null : upstream.body;
  if (body === null && upstream.body) upstream.body.cancel().catch(() => {});
  return new Response(body, { status: upstream.status, statusText: upstream.statusText, headers: responseHeaders });
}

function withRequestId(response: Response, name: string, id: string): Response {
  response.headers.set(name, id);
  return response;
}
