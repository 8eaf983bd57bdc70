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
import type { TransportFailure } from "../health/schema.ts";
import { MalformedRequestError } from "../platform.ts";
import type { TargetGroup } from "../pool/group.ts";
import type { PoolTarget } from "../pool/target.ts";
import { Attempt } from "./attempt.ts";
import { attemptAbort, attemptFailure, CLIENT_GONE } from "./attempt-abort.ts";
import type { ForwardRequest, ProxyContext } from "./context.ts";
import { badGateway, badRequest, errorDetail, gatewayTimeout, serviceUnavailable } from "./errors.ts";
import { stripHopByHop } from "./headers.ts";
import { pickTarget, stickyBinding, upstreamHeaders } from "./upstream-request.ts";
import { varsOf } from "./forward.ts";
import type { WebSocketCapability, WsEnd } from "../platform.ts";
import { SERVICE_RESTART } from "./websocket-registry.ts";
import { type Relay, relay } from "./websocket-relay.ts";

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
    if (offered.some((p) => !TOKEN.test(p)) || new Set(offered).size !== offered.length) {
      return { status: 400, detail: "Sec-WebSocket-Protocol must be distinct tokens" };
    }
  }
  return undefined;
}

export async function forwardWebSocket(
  ctx: ProxyContext,
  capability: WebSocketCapability,
  group: TargetGroup,
  req: ForwardRequest,
  /** Headers for the 101 (group stickiness cookie). */
  extraHeaders?: Headers,
): Promise<Response> {
  const { platform, metrics, forwarding } = ctx;
  const { c, client, path } = req;
  const request = c.req.raw;
  const token = metrics.requestStarted({ rule: req.rule, group: group.metrics });
  const arrived = platform.now();
  let attempts = 0;
  let lastTarget: PoolTarget | undefined;
  let lastError: TransportFailure | undefined;
  const finish = (response: Response, status = response.status): Response => {
    metrics.requestFinished(token, {
      status,
      totalMs: platform.now() - arrived,
      retries: Math.max(0, attempts - 1),
      error: lastError,
      target: lastTarget?.metrics,
    });
    return response;
  };

  const problem = handshakeProblem(request.headers);
  if (problem) {
    const answer = new Response(`${problem.status} ${problem.status === 426 ? "Upgrade Required" : "Bad Request"}: ${problem.detail}\n`, {
      status: problem.status,
      headers: { "content-type": "text/plain; charset=utf-8" },
    });
    if (problem.status === 426) answer.headers.set("sec-websocket-version", "13");
    return finish(answer);
  }
  const idHeader = forwarding.requestIdHeader;
  const { headers, requestId } = upstreamHeaders(forwarding, request, client);
  for (const h of HANDSHAKE_HEADERS) headers.delete(h);
  const protocols = offeredProtocols(request.headers);
  const { sticky, nowSec, binding, bound } = await stickyBinding(group, request, headers);
  if (group.config.hostHeader === "target") headers.delete("host");
  const retries = group.config.retries;
  const tried = new Set<PoolTarget>();
  let last: Response | undefined;
  const withId = (r: Response) => (r.headers.has(idHeader) ? r : (r.headers.set(idHeader, requestId), r));
  // Nothing has been exchanged with the client before the 101, so any failure may go to another target (tries and budget still bound it).
  const question = (attempt: number, now: number) => ({
    method: "GET",
    headers: request.headers,
    bodyReplayable: true,
    attempt,
    elapsedMs: now - arrived,
    config: retries,
  });

  for (let n = 1;; n++) {
    let now0 = n === 1 ? arrived : platform.now();
    // Requests waiting for a slot go first (pool/slot-queue.ts).
    let target = n > 1 || !group.waiting ? pickTarget(group, c, client, n === 1 ? bound : undefined, tried, now0) : undefined;
    if (target === undefined && n === 1) {
      // Every target that is up is at its maxConnections: the handshake may wait for a slot.
      target = await group.waitForTarget(() => pickTarget(group, c, client, bound, tried, platform.now()), request.signal);
      now0 = platform.now();
    }
    if (!target) return finish(withId(last ?? serviceUnavailable()));
    tried.add(target);
    attempts = n;
    lastTarget = target;
    lastError = undefined;
    last = undefined;

    // The handshake is bounded by the connect and response timeouts together (nginx proxy_connect_timeout + proxy_read_timeout for the 101).
    const abort = attemptAbort(platform, request, group.connectTimeoutMs + group.responseTimeoutMs);
    const attempt = new Attempt(ctx, target, now0);
    let end: WsEnd | undefined;
    let piped: { readonly protocol: string; response(headers: Headers): Response } | undefined;
    try {
      let sent = headers;
      if (req.transform?.request !== undefined) req.transform.request(sent = new Headers(headers), varsOf(req, group, requestId, target));
      const handshake = await capability.connect({
        url: target.origin + (req.transform?.path === undefined ? path : req.transform.path(path)),
        headers: sent,
        protocols,
        signal: abort.cancellation.signal,
        maxMessageBytes: ctx.websocket.maxBufferedBytes,
      });
      if ("refused" in handshake) {
        // The target answered without upgrading: its answer is final unless the status is one to retry.
        attempt.release();
        const refused = handshake.refused;
        const { at } = attempt.answered(refused.status);
        const responseHeaders = new Headers(refused.headers);
        stripHopByHop(responseHeaders);
        const answer = withId(new Response(refused.body, { status: refused.status, statusText: refused.statusText, headers: responseHeaders }));
        const retry = retries.retryOn.includes(refused.status) && attempt.retry(question(n, at), { status: refused.status });
        if (!retry) return finish(answer);
        await answer.body?.cancel().catch(() => {});
        last = withId(badGateway());
        continue;
      }
      if ("piped" in handshake) piped = handshake.piped;
      else end = handshake.end;
    } catch (error) {
      attempt.release();
      if (abort.cancellation.reason === CLIENT_GONE || request.signal.aborted) return finish(new Response(null, { status: 499 }));
      if (error instanceof MalformedRequestError) return finish(withId(badRequest("the request cannot be forwarded")));
      const kind = attemptFailure(abort.cancellation, error);
      lastError = kind;
      const at = attempt.failed(kind, error);
      const failure = withId(kind === "timeout" ? gatewayTimeout() : badGateway());
      if (!attempt.retry(question(n, at), kind)) return finish(failure);
      last = failure;
      continue;
    } finally {
      abort.settle();
    }

    attempt.answered(101);
    const responseHeaders = new Headers(extraHeaders);
    responseHeaders.set(idHeader, requestId);
    const index = group.indexOf(target);
    if (piped) {
      // Joined natively (Workers): the runtime pumps the frames with backpressure, and the socket's
      // life is not observable here, so it counts as in flight for its handshake only.
      attempt.release();
      try {
        if (sticky && sticky.shouldIssue(responseHeaders, index, binding, nowSec)) await sticky.issue(responseHeaders, index, nowSec);
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
      if (sticky && sticky.shouldIssue(responseHeaders, index, binding, nowSec)) await sticky.issue(responseHeaders, index, nowSec);
      accepted = capability.accept(c, { protocol: end.protocol, headers: responseHeaders });
    } catch (error) {
      attempt.release();
      end.close(1011, "client upgrade failed");
      platform.log(`websocket: client upgrade failed: ${errorDetail(error)}`);
      return finish(new Response("400 Bad Request\n", { status: 400 }));
    }

    const labels = { group: group.metrics, target: target.metrics };
    metrics.wsOpened(labels);
    let cancelDrain = () => {};
    // onEnd may run inside relay() itself (a socket already closed), before `r` is assigned.
    let r: Relay | undefined = undefined;
    r = relay(accepted.end, end, {
      config: ctx.websocket,
      now: platform.now,
      timer: platform.timer,
      onEnd: () => {
        cancelDrain();
        metrics.wsClosed(labels);
        if (r) {
          ctx.sockets.delete(r);
          target.removeSocket(r);
        }
        attempt.release();
      },
    });
    if (!r.ended) {
      const opened = r;
      ctx.sockets.add(opened);
      target.addSocket(opened);
      // A draining target keeps its sockets until its deadline (ALB deregistration delay), then they are told to reconnect elsewhere.
      const drainAt = target.drainDeadline();
      if (drainAt !== undefined) cancelDrain = platform.timer(Math.max(0, drainAt - platform.now()), () => opened.close(SERVICE_RESTART, "target draining"));
    }
    return finish(accepted.response, 101);
  }
}
