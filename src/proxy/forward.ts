/**
 * Forward one request to a target group: pick a target (a valid sticky
 * binding first), send the request with its body streamed, and stream the
 * response back unchanged except for hop-by-hop headers. Failed attempts are
 * recorded in the group's health table and retried on another target when
 * that is safe (retries loop outside the strategy and skip targets already
 * tried, as Caddy does). Failures map to what nginx sends: 502 when the
 * target refused or broke, 504 when it timed out, 503 when no target is usable.
 */
import type { Context } from "hono";
import type { Balancer } from "../balancer.ts";
import { canRetry } from "../health/retry-policy.ts";
import { MalformedRequestError, type UpstreamFailure } from "../platform.ts";
import type { TargetGroup, Target } from "../target-group.ts";
import type { StickyBinding, Stickiness } from "../sticky/affinity.ts";
import { badGateway, badRequest, errorDetail, gatewayTimeout, internalError, serviceUnavailable } from "./errors.ts";
import { isStreamed, onBodyEnd } from "./body-end.ts";
import { attemptAbort, attemptFailure, CLIENT_GONE } from "./attempt-abort.ts";
import { ClientGone, NO_BODY, replayableBody } from "./request-body.ts";
import { applyForwarding, ensureRequestId, FORWARDING_HEADERS, stripHopByHop } from "./headers.ts";

/** Path and query exactly as the client sent them: everything after the authority. */
export function rawPathAndQuery(url: string): string {
  const slash = url.indexOf("/", url.indexOf("//") + 2);
  return slash < 0 ? "/" : url.slice(slash);
}

/** Statuses whose responses never carry a body (RFC 9110 §6.4.1, §15.3.6 for 205). */
function bodyless(method: string, status: number): boolean {
  return method === "HEAD" || status === 204 || status === 205 || status === 304 || (status >= 100 && status < 200);
}

/** nginx's 499: the client closed the connection before the answer (metrics and logs only). */
const clientClosed = () => new Response(null, { status: 499 });

export interface ClientAddress {
  readonly peer: string | undefined;
  readonly client: string | undefined;
  readonly trusted: boolean;
}

/** The client's headers as a target gets them: hop-by-hop removed, request id ensured, forwarding headers applied. */
export function upstreamHeaders(balancer: Balancer, request: Request, client: ClientAddress): { headers: Headers; requestId: string } {
  const { config } = balancer;
  const headers = new Headers(request.headers);
  stripHopByHop(headers, client.trusted ? undefined : FORWARDING_HEADERS, true);
  const requestId = ensureRequestId(headers, config.forwarding.requestIdHeader);
  const url = request.url;
  applyForwarding(headers, { ip: client.peer, realIp: client.client, trusted: client.trusted, proto: url.startsWith("https:") ? "https" : "http", host: request.headers.get("host") }, config.forwarding, true);
  return { headers, requestId };
}

/** What stickiness decided for one request. */
export interface StickyState {
  readonly sticky: Stickiness | undefined;
  readonly nowSec: number;
  readonly binding: StickyBinding | undefined;
  readonly bound: Target | undefined;
}

const NOT_STICKY: StickyState = { sticky: undefined, nowSec: 0, binding: undefined, bound: undefined };

/**
 * The client's sticky binding in this group, if any (and the cookie header the
 * target gets: the binding cookie removed in `indirect` mode). Shared by HTTP
 * and WebSocket forwarding, so an upgrade lands on the sticky client's target.
 * Synchronous when there is nothing to verify (no stickiness, or no cookie at
 * all): the common first request pays no promise for it.
 */
export function stickyBinding(group: TargetGroup, request: Request, headers: Headers): StickyState | Promise<StickyState> {
  const sticky = group.stickinessReady;
  if (sticky === undefined) return group.stickiness === undefined ? NOT_STICKY : group.stickiness.then(() => stickyBinding(group, request, headers));
  if (sticky === null) return NOT_STICKY; // its key failed to import: serving without (logged once)
  const nowSec = Math.floor(Date.now() / 1000);
  const cookie = request.headers.get("cookie");
  if (cookie === null) return { sticky, nowSec, binding: undefined, bound: undefined };
  const forwarded = sticky.forwardedCookieHeader(cookie);
  if (forwarded === null) headers.delete("cookie");
  else if (forwarded !== cookie) headers.set("cookie", forwarded);
  return sticky.targetFor(request.headers, nowSec).then((binding) => ({ sticky, nowSec, binding, bound: binding ? group.targets[binding.index] : undefined }));
}

/** A valid sticky binding wins while its target can take traffic; otherwise the strategy picks (skipping targets tried). */
export function pickTarget(group: TargetGroup, c: Context, client: ClientAddress, bound: Target | undefined, tried: ReadonlySet<Target>, now: number): Target | undefined {
  return bound && !tried.has(bound) && group.canTake(bound, now) ? bound : group.select(c, client.client, tried, now);
}

export async function forward(
  balancer: Balancer,
  group: TargetGroup,
  c: Context,
  client: ClientAddress,
  rule: number | undefined,
  /** The client's path and query, as sent (the caller has it already). */
  path: string,
): Promise<Response> {
  const { platform, config, metrics, accessLog } = balancer;
  const request = c.req.raw;
  const token = metrics.requestStarted({ rule: balancer.ruleMetrics(rule), group: group.metrics });
  const arrived = platform.now();
  const wallArrived = accessLog ? Date.now() : 0;
  let lastTarget: Target | undefined;
  let lastError: UpstreamFailure | undefined;
  let upstreamMs: number | undefined;
  let attempts = 0;
  /** The target whose in-flight count this request holds (begin() done, end() not yet). */
  let counting: Target | undefined;
  const release = () => {
    counting?.end();
    counting = undefined;
  };
  /**
   * The single exit: metrics (and the access log) see every answer, ours or the target's.
   * `fromTarget`: the response carries the counted target's body; a streamed one keeps the
   * target's count and the request's active gauges until it has been relayed (body-end.ts).
   */
  const finish = (response: Response, at = platform.now(), fromTarget = false): Response => {
    const bytesIn = Number(request.headers.get("content-length") ?? 0) || 0;
    const length = response.headers.get("content-length");
    const bytesOut = Number(length ?? 0) || 0;
    const status = response.status;
    const retries = Math.max(0, attempts - 1);
    // Like nginx's access log: written once the response is complete, with the bytes sent and the whole time.
    const requestId = accessLog ? (response.headers.get(config.forwarding.requestIdHeader) ?? "") : "";
    const log =
      accessLog &&
      ((end: number, sent: number) =>
        accessLog({
          time: wallArrived,
          requestId,
          client: client.client,
          method: request.method,
          path,
          rule: rule === undefined ? "default" : String(rule),
          group: group.name,
          target: lastTarget?.url,
          status,
          upstreamMs,
          totalMs: end - arrived,
          bytesIn,
          bytesOut: sent,
          retries,
        }));
    let open = false;
    // Headers first: on Node, reading `.body` of a small collected response costs a web stream.
    if (fromTarget && counting !== undefined && isStreamed(length) && response.body !== null) {
      const target = counting;
      counting = undefined;
      open = true;
      const declared = length === null ? undefined : Number(length);
      const relayed = onBodyEnd(
        response.body,
        (bytes, how) => {
          target.end();
          if (how === "timeout" || how === "truncated" || how === "reset") metrics.bodyBroken(target.metrics, how);
          metrics.requestClosed(token, target.metrics, length === null ? bytes : 0);
          log?.(platform.now(), length === null ? bytes : bytesOut);
        },
        request.signal,
        { declaredLength: declared, readTimeoutMs: group.readTimeoutMs, now: platform.now, deadline: platform.deadline },
      );
      // Where a relayed stream would lose its length (and so hide an early end), the runtime keeps it.
      const body = declared !== undefined && platform.fixedLength ? platform.fixedLength(relayed, declared) : relayed;
      // The target's Response as init: status, statusText, headers and, on workerd, its body encoding as sent.
      response = new Response(body, response);
    } else {
      release();
      log?.(at, bytesOut);
    }
    metrics.requestFinished(token, { status, totalMs: at - arrived, upstreamMs, bytesIn, bytesOut, retries, error: lastError, target: lastTarget?.metrics, at, open });
    return response;
  };
  try {
    return await run();
  } catch (error) {
    release();
    if (error instanceof ClientGone) return finish(clientClosed());
    // Never a stack trace for the client; metrics and the log still see the request.
    platform.log(`internal error in forward: ${errorDetail(error)}`);
    return finish(internalError());
  }

  async function run(): Promise<Response> {
    const idHeader = config.forwarding.requestIdHeader;
    const { headers, requestId } = upstreamHeaders(balancer, request, client);
    const stickyState = stickyBinding(group, request, headers);
    const { sticky, nowSec, binding, bound } = stickyState instanceof Promise ? await stickyState : stickyState;

    const retries = group.config.retries;
    const noBody = request.method === "GET" || request.method === "HEAD" || request.body === null;
    const { body, replayable, clientFailed, sent } = noBody ? NO_BODY : await replayableBody(request, retries.maxReplayBodyBytes, platform.fixedLength);
    const tried = new Set<Target>();
    let last: Response | undefined;

    for (let attempt = 1; ; attempt++) {
      // A valid sticky binding wins while its target can take traffic; otherwise the strategy picks (and a new cookie is issued).
      const now0 = attempt === 1 ? arrived : platform.now();
      const target = pickTarget(group, c, client, attempt === 1 ? bound : undefined, tried, now0);
      if (!target) return finish(withRequestId(last ?? serviceUnavailable(), idHeader, requestId));
      if (last) await last.body?.cancel().catch(() => {});
      last = undefined;
      tried.add(target);
      attempts = attempt;
      lastTarget = target;
      lastError = undefined;
      upstreamMs = undefined;
      // `preserve` needs nothing: the copied headers carry the client's Host, and only `target` mode changes it.
      if (group.config.hostHeader === "target") headers.set("host", target.host);

      // The retry budget bounds every attempt too, not just the decision to retry.
      const timeoutMs = retries.budget > 0 ? Math.max(1, Math.min(group.responseTimeoutMs, retries.budget * 1000 - (now0 - arrived))) : group.responseTimeoutMs;
      const abort = attemptAbort(platform, request, timeoutMs, sent);
      group.health.beginAttempt(target.index, now0);
      target.begin();
      counting = target;
      let upstream: Response;
      try {
        upstream = await platform.upstream({
          origin: target.origin,
          path,
          method: request.method,
          headers,
          body: body() as ReadableStream<Uint8Array> | null,
          cancellation: abort.cancellation,
          connectTimeoutMs: group.connectTimeoutMs,
        });
      } catch (error) {
        release();
        const clientBroke = clientFailed();
        if (abort.cancellation.reason === CLIENT_GONE || request.signal.aborted || clientBroke === true) {
          // The client left (or broke its upload): not the target's fault, nothing to retry.
          return finish(clientClosed());
        }
        // The upstream client would not send it: nothing reached the target, and no other target would take it either.
        if (error instanceof MalformedRequestError) return finish(withRequestId(badRequest("the request cannot be forwarded"), idHeader, requestId));
        const kind = attemptFailure(abort.cancellation, error);
        if (clientBroke === undefined && kind !== "connect") {
          // An upload that could not be watched broke: the client may have left, so it is not counted against the target.
          lastError = kind;
          return finish(withRequestId(kind === "timeout" ? gatewayTimeout() : badGateway(), idHeader, requestId));
        }
        const now = platform.now();
        const failed = group.health.recordAttempt(target.index, { kind }, now);
        group.report(target, !failed, now - now0);
        balancer.logUpstreamFailure(target, kind, error);
        lastError = kind;
        const retry = canRetry({ method: request.method, headers: request.headers, failure: kind, bodyReplayable: replayable, attempt, elapsedMs: now - arrived, config: retries });
        const failure = withRequestId(kind === "timeout" ? gatewayTimeout() : badGateway(), idHeader, requestId);
        if (!retry) return finish(failure);
        // Answer with this failure if no other target can take the retry.
        metrics.attemptFailed(target.metrics, kind);
        last = failure;
        continue;
      } finally {
        abort.settle();
      }

      const now = platform.now();
      upstreamMs = now - now0;
      const failed = group.health.recordAttempt(target.index, { kind: "status", status: upstream.status }, now);
      group.report(target, !failed, upstreamMs);
      balancer.logUpstreamAnswer(target);
      const retry =
        retries.retryOn.includes(upstream.status) &&
        canRetry({ method: request.method, headers: request.headers, failure: "status", status: upstream.status, bodyReplayable: replayable, attempt, elapsedMs: now - arrived, config: retries });

      // Edit the target's response in place (the platform hands out mutable headers).
      // Status first: on Node, reading `.body` turns @hono/node-server's lightweight
      // Response into a full one (a web stream per request, measured).
      const mustDropBody = bodyless(request.method, upstream.status) && upstream.body !== null;
      const response = mustDropBody ? new Response(null, upstream) : upstream;
      const responseHeaders = response.headers;
      stripHopByHop(responseHeaders);
      if (!responseHeaders.has(idHeader)) responseHeaders.set(idHeader, requestId);
      if (sticky && sticky.shouldIssue(responseHeaders, target.index, binding, nowSec)) {
        await sticky.issue(responseHeaders, target.index, nowSec);
      }
      if (mustDropBody) upstream.body!.cancel().catch(() => {});
      if (!retry) return finish(response, now, !mustDropBody);
      // Keep it: if no other target can take the retry, the client gets this answer.
      release();
      last = response;
    }
  }
}

function withRequestId(response: Response, name: string, id: string): Response {
  if (!response.headers.has(name)) response.headers.set(name, id);
  return response;
}
