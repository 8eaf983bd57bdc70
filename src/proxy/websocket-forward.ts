/**
 * Forward a WebSocket upgrade to a target group, with the same target choice
 * as HTTP (sticky binding first, then the strategy; health and retries
 * alike). The target's handshake completes before the client is upgraded, as
 * nginx and HAProxy do, so a target that refuses, breaks or times out yields
 * a 502/504 (503 when nothing is usable) and another target may be tried:
 * nothing has been exchanged yet (RFC 6455 §4.1: the client sends no frame
 * before the 101). The open socket stays counted in flight at its target
 * (least_connections sees it) and as an active WebSocket in the metrics.
 */
import type { Context } from "hono";
import type { Balancer } from "../balancer.ts";
import { canRetry } from "../health/retry-policy.ts";
import { MalformedRequestError, type UpstreamFailure } from "../platform.ts";
import type { Target, TargetGroup } from "../target-group.ts";
import { badGateway, badRequest, errorDetail, gatewayTimeout, serviceUnavailable } from "./errors.ts";
import { attemptAbort, attemptFailure, CLIENT_GONE } from "./attempt-abort.ts";
import { pickTarget, stickyBinding, upstreamHeaders, type ClientAddress } from "./forward.ts";
import { stripHopByHop } from "./headers.ts";
import type { WebSocketCapability, WsEnd } from "./websocket-end.ts";
import { openWebSockets, SERVICE_RESTART } from "./websocket-registry.ts";
import { relay, type Relay } from "./websocket-relay.ts";

/** Is this request an upgrade to WebSocket (RFC 6455 §4.1: GET, `Upgrade: websocket`)? */
export function isWebSocketUpgrade(request: Request): boolean {
  if (request.method !== "GET") return false;
  const upgrade = request.headers.get("upgrade");
  return upgrade !== null && upgrade.toLowerCase() === "websocket";
}

/** Per-hop handshake headers: each leg negotiates its own key, version and extensions (permessage-deflate is per connection). */
const HANDSHAKE_HEADERS = ["sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions", "sec-websocket-protocol", "sec-websocket-accept"];

/** The subprotocols offered, in the client's order (RFC 6455 §4.1: a comma-separated list, possibly over several headers). */
export function offeredProtocols(headers: Headers): string[] {
  const raw = headers.get("sec-websocket-protocol");
  return raw ? raw.split(",").map((p) => p.trim()).filter(Boolean) : [];
}

/** RFC 7230 token: what a subprotocol name must be (RFC 6455 §4.1). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Base64 of a 16-byte nonce (RFC 6455 §4.1, item 7). */
const KEY = /^[A-Za-z0-9+/]{22}==$/;

/**
 * Why the client's opening handshake is invalid (RFC 6455 §4.2.1), or
 * undefined. Checked before any target is chosen: a malformed handshake is
 * the client's error, so it must never reach (or be blamed on) a target, and
 * the runtimes' WebSocket clients throw on a duplicated or invalid
 * subprotocol list before connecting.
 */
export function handshakeProblem(headers: Headers): { status: 400 | 426; detail: string } | undefined {
  const connection = headers.get("connection") ?? "";
  if (!connection.split(",").some((t) => t.trim().toLowerCase() === "upgrade")) return { status: 400, detail: "Connection must include Upgrade" };
  if (headers.get("sec-websocket-version")?.trim() !== "13") return { status: 426, detail: "Sec-WebSocket-Version must be 13" };
  if (!KEY.test(headers.get("sec-websocket-key")?.trim() ?? "")) return { status: 400, detail: "Sec-WebSocket-Key must be base64 of 16 bytes" };
  const raw = headers.get("sec-websocket-protocol");
  if (raw !== null) {
    const offered = raw.split(",").map((p) => p.trim());
    if (offered.some((p) => !TOKEN.test(p)) || new Set(offered).size !== offered.length) return { status: 400, detail: "Sec-WebSocket-Protocol must be distinct tokens" };
  }
  return undefined;
}

export async function forwardWebSocket(
  balancer: Balancer,
  capability: WebSocketCapability,
  group: TargetGroup,
  c: Context,
  client: ClientAddress,
  rule: number | undefined,
  path: string,
  /** Headers for the 101 (group stickiness cookie). */
  extraHeaders?: Headers,
): Promise<Response> {
  const { platform, config, metrics } = balancer;
  const request = c.req.raw;
  const token = metrics.requestStarted({ rule: balancer.ruleMetrics(rule), group: group.metrics });
  const arrived = platform.now();
  let attempts = 0;
  let lastTarget: Target | undefined;
  let lastError: UpstreamFailure | undefined;
  const finish = (response: Response, status = response.status): Response => {
    metrics.requestFinished(token, { status, totalMs: platform.now() - arrived, retries: Math.max(0, attempts - 1), error: lastError, target: lastTarget?.metrics });
    return response;
  };

  const problem = handshakeProblem(request.headers);
  if (problem) {
    const answer = new Response(`${problem.status} ${problem.status === 426 ? "Upgrade Required" : "Bad Request"}: ${problem.detail}\n`, { status: problem.status, headers: { "content-type": "text/plain; charset=utf-8" } });
    if (problem.status === 426) answer.headers.set("sec-websocket-version", "13");
    return finish(answer);
  }
  const idHeader = config.forwarding.requestIdHeader;
  const { headers, requestId } = upstreamHeaders(balancer, request, client);
  for (const h of HANDSHAKE_HEADERS) headers.delete(h);
  const protocols = offeredProtocols(request.headers);
  const { sticky, nowSec, binding, bound } = await stickyBinding(group, request, headers);
  if (group.config.hostHeader === "target") headers.delete("host");
  const retries = group.config.retries;
  const tried = new Set<Target>();
  let last: Response | undefined;
  const withId = (r: Response) => (r.headers.has(idHeader) ? r : (r.headers.set(idHeader, requestId), r));

  for (let attempt = 1; ; attempt++) {
    const now0 = attempt === 1 ? arrived : platform.now();
    const target = pickTarget(group, c, client, attempt === 1 ? bound : undefined, tried, now0);
    if (!target) return finish(withId(last ?? serviceUnavailable()));
    tried.add(target);
    attempts = attempt;
    lastTarget = target;
    lastError = undefined;
    last = undefined;

    // The handshake is bounded by the connect and response timeouts together (nginx proxy_connect_timeout + proxy_read_timeout for the 101).
    const abort = attemptAbort(platform, request, group.connectTimeoutMs + group.responseTimeoutMs);
    group.health.beginAttempt(target.index, now0);
    target.begin();
    let end: WsEnd | undefined;
    let piped: { readonly protocol: string; response(headers: Headers): Response } | undefined;
    try {
      const handshake = await capability.connect({ url: target.origin + path, headers, protocols, signal: abort.cancellation.signal, maxMessageBytes: config.websocket.maxBufferedBytes });
      if ("refused" in handshake) {
        // The target answered without upgrading: its answer is final unless the status is one to retry.
        target.end();
        const refused = handshake.refused;
        const now = platform.now();
        const failed = group.health.recordAttempt(target.index, { kind: "status", status: refused.status }, now);
        group.report(target, !failed, now - now0);
        balancer.logUpstreamAnswer(target);
        const responseHeaders = new Headers(refused.headers);
        stripHopByHop(responseHeaders);
        const answer = withId(new Response(refused.body, { status: refused.status, statusText: refused.statusText, headers: responseHeaders }));
        const retry = retries.retryOn.includes(refused.status) && canRetry({ method: "GET", headers: request.headers, failure: "status", status: refused.status, bodyReplayable: true, attempt, elapsedMs: now - arrived, config: retries });
        if (!retry) return finish(answer);
        await answer.body?.cancel().catch(() => {});
        last = withId(badGateway());
        continue;
      }
      if ("piped" in handshake) piped = handshake.piped;
      else end = handshake.end;
    } catch (error) {
      target.end();
      if (abort.cancellation.reason === CLIENT_GONE || request.signal.aborted) return finish(new Response(null, { status: 499 }));
      if (error instanceof MalformedRequestError) return finish(withId(badRequest("the request cannot be forwarded")));
      const kind = attemptFailure(abort.cancellation, error);
      const now = platform.now();
      const failed = group.health.recordAttempt(target.index, { kind }, now);
      group.report(target, !failed, now - now0);
      balancer.logUpstreamFailure(target, kind, error);
      lastError = kind;
      const failure = withId(kind === "timeout" ? gatewayTimeout() : badGateway());
      // Nothing was exchanged with the client yet, so any failure may go to another target (tries and budget still bound it).
      if (!canRetry({ method: "GET", headers: request.headers, failure: kind, bodyReplayable: true, attempt, elapsedMs: now - arrived, config: retries })) return finish(failure);
      metrics.attemptFailed(target.metrics, kind);
      last = failure;
      continue;
    } finally {
      abort.settle();
    }

    const now = platform.now();
    const failed = group.health.recordAttempt(target.index, { kind: "status", status: 101 }, now);
    group.report(target, !failed, now - now0);
    balancer.logUpstreamAnswer(target);

    const responseHeaders = new Headers(extraHeaders);
    responseHeaders.set(idHeader, requestId);
    if (piped) {
      // Joined natively (Workers): the runtime pumps the frames with backpressure, and the socket's
      // life is not observable here, so it counts as in flight for its handshake only.
      target.end();
      try {
        if (sticky && sticky.shouldIssue(responseHeaders, target.index, binding, nowSec)) await sticky.issue(responseHeaders, target.index, nowSec);
      } catch (error) {
        platform.log(`websocket: sticky cookie not issued: ${errorDetail(error)}`);
      }
      const labels = { group: group.metrics, target: target.metrics };
      metrics.wsOpened(labels);
      metrics.wsClosed(labels);
      return finish(piped.response(responseHeaders), 101);
    }
    if (!end) throw new Error("websocket handshake without a socket");
    let accepted: ReturnType<WebSocketCapability["accept"]>;
    try {
      if (sticky && sticky.shouldIssue(responseHeaders, target.index, binding, nowSec)) await sticky.issue(responseHeaders, target.index, nowSec);
      accepted = capability.accept(c, { protocol: end.protocol, headers: responseHeaders });
    } catch (error) {
      target.end();
      end.close(1011, "client upgrade failed");
      platform.log(`websocket: client upgrade failed: ${errorDetail(error)}`);
      return finish(new Response("400 Bad Request\n", { status: 400 }));
    }

    const open = openWebSockets(balancer);
    const labels = { group: group.metrics, target: target.metrics };
    metrics.wsOpened(labels);
    let cancelDrain = () => {};
    let r: Relay | undefined;
    r = relay(accepted.end, end, {
      config: config.websocket,
      now: platform.now,
      deadline: platform.deadline,
      onEnd: () => {
        cancelDrain();
        target.end();
        metrics.wsClosed(labels);
        if (r) open.delete(r);
      },
    });
    if (!r.ended) {
      const opened = r;
      open.add(opened, target);
      // A draining target keeps its sockets until its deadline (ALB deregistration delay), then they are told to reconnect elsewhere.
      const drainAt = group.health.drainDeadline(target.index);
      if (drainAt !== undefined) cancelDrain = platform.deadline(Math.max(0, drainAt - platform.now()), () => opened.close(SERVICE_RESTART, "target draining"));
    }
    return finish(accepted.response, 101);
  }
}
