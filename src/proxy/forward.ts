/**
 * Forward one request to a target group: pick a target (a valid sticky
 * binding first), send the request with its body streamed, and stream the
 * response back unchanged except for hop-by-hop headers. Failed attempts are
 * recorded (attempt.ts) and retried on another target when that is safe
 * (retries loop outside the strategy and skip targets already tried, as
 * Caddy does). Failures map to what nginx sends: 502 when the target refused
 * or broke, 504 when it timed out, 503 when no target is usable.
 */
import type { TransportFailure } from "../health/schema.ts";
import { MalformedRequestError } from "../platform.ts";
import type { TargetGroup } from "../pool/group.ts";
import type { PoolTarget } from "../pool/target.ts";
import { Attempt } from "./attempt.ts";
import { attemptAbort, attemptFailure, CLIENT_GONE } from "./attempt-abort.ts";
import { isStreamed, onBodyEnd } from "./body-end.ts";
import type { ForwardRequest, ProxyContext } from "./context.ts";
import { badGateway, badRequest, contentTooLarge, errorDetail, gatewayTimeout, internalError, serviceUnavailable } from "./errors.ts";
import { stripHopByHop } from "./headers.ts";
import { ClientGone, NO_BODY, replayableBody } from "./request-body.ts";
import { pickTarget, stickyBinding, upstreamHeaders } from "./upstream-request.ts";
import type { Vars } from "../transform/transform.ts";
import { mirror } from "./mirror.ts";
import { normalizePath } from "../rules/normalize-path.ts";
import { clientScheme } from "./client-address.ts";

/** Statuses whose responses never carry a body (RFC 9110 §6.4.1, §15.3.6 for 205). */
function bodyless(method: string, status: number): boolean {
  return method === "HEAD" || status === 204 || status === 205 || status === 304 || (status >= 100 && status < 200);
}

/** nginx's 499: the client closed the connection before the answer (metrics and logs only). */
const clientClosed = () => new Response(null, { status: 499 });

function normalizedPathAndQuery(pathAndQuery: string): string {
  const q = pathAndQuery.indexOf("?");
  return q < 0 ? normalizePath(pathAndQuery) : normalizePath(pathAndQuery.slice(0, q)) + pathAndQuery.slice(q);
}

/** What a transform's placeholders say for one request (and attempt): built only where a transform is configured. */
export function varsOf(req: ForwardRequest, group: TargetGroup, requestId: string, target: PoolTarget | undefined): Vars {
  const request = req.c.req.raw;
  return {
    client_ip: req.client.client ?? "",
    request_id: requestId,
    group: group.name,
    target: target?.host ?? "",
    host: request.headers.get("host") ?? "",
    method: request.method,
    path: req.path,
    scheme: clientScheme(request, req.client.trusted),
  };
}

export async function forward(ctx: ProxyContext, group: TargetGroup, req: ForwardRequest): Promise<Response> {
  const { platform, metrics, accessLog, forwarding } = ctx;
  const { c, client, path, transform } = req;
  const request = c.req.raw;
  const token = metrics.requestStarted({ rule: req.rule, group: group.metrics });
  // A rewrite works on the path the rules matched (slashes merged, dot segments and unreserved escapes
  // resolved: the same resource), so that "/%61pi/x" cannot slip past a stripPrefix of "/api".
  const upstreamPath = transform?.path === undefined ? path : transform.path(normalizedPathAndQuery(path));
  const arrived = platform.now();
  const wallArrived = accessLog ? Date.now() : 0;
  let lastTarget: PoolTarget | undefined;
  let lastError: TransportFailure | undefined;
  let upstreamMs: number | undefined;
  let attempts = 0;
  /** The attempt whose target still counts this request in flight. */
  let holding: Attempt | undefined;
  const release = () => {
    holding?.release();
    holding = undefined;
  };
  /**
   * The single exit: metrics (and the access log) see every answer, ours or the target's.
   * `fromTarget`: the response carries the held target's body; a streamed one keeps the
   * target's count and the request's active gauges until it has been relayed (body-end.ts).
   */
  const finish = (response: Response, at = platform.now(), fromTarget = false): Response => {
    if (transform?.response !== undefined) {
      transform.response(response.headers, varsOf(req, group, response.headers.get(forwarding.requestIdHeader) ?? "", lastTarget));
    }
    const bytesIn = Number(request.headers.get("content-length") ?? 0) || 0;
    const length = response.headers.get("content-length");
    const bytesOut = Number(length ?? 0) || 0;
    const status = response.status;
    const retries = Math.max(0, attempts - 1);
    // Like nginx's access log: written once the response is complete, with the bytes sent and the whole time.
    const requestId = accessLog ? (response.headers.get(forwarding.requestIdHeader) ?? "") : "";
    const log = accessLog &&
      ((end: number, sent: number) =>
        accessLog({
          time: wallArrived,
          requestId,
          client: client.client,
          method: request.method,
          path,
          rule: req.rule.name,
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
    if (fromTarget && holding !== undefined && isStreamed(length) && response.body !== null) {
      const attempt = holding;
      const target = attempt.target;
      holding = undefined;
      open = true;
      const declared = length === null ? undefined : Number(length);
      const relayed = onBodyEnd(
        response.body,
        (bytes, how) => {
          attempt.release();
          if (how === "timeout" || how === "truncated" || how === "reset") metrics.bodyBroken(target.metrics, how);
          metrics.requestClosed(token, target.metrics, length === null ? bytes : 0);
          log?.(platform.now(), length === null ? bytes : bytesOut);
        },
        request.signal,
        { declaredLength: declared, readTimeoutMs: group.readTimeoutMs, now: platform.now, timer: platform.timer, readSize: platform.streamReadSize },
      );
      // Where a relayed stream would lose its length (and so hide an early end), the runtime keeps it.
      const body = declared !== undefined && platform.fixedLength ? platform.fixedLength(relayed, declared) : relayed;
      // The target's Response as init: status, statusText, headers and, on workerd, its body encoding as sent.
      response = new Response(body, response);
    } else {
      release();
      log?.(at, bytesOut);
    }
    metrics.requestFinished(token, {
      status,
      totalMs: at - arrived,
      upstreamMs,
      bytesIn,
      bytesOut,
      retries,
      error: lastError,
      target: lastTarget?.metrics,
      at,
      open,
    });
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
    const idHeader = forwarding.requestIdHeader;
    const withId = (r: Response) => (r.headers.has(idHeader) ? r : (r.headers.set(idHeader, requestId), r));
    const { headers, requestId } = upstreamHeaders(forwarding, request, client);
    const stickyState = stickyBinding(group, request, headers);
    const { sticky, nowSec, binding, bound } = stickyState instanceof Promise ? await stickyState : stickyState;

    const retries = group.config.retries;
    const noBody = request.method === "GET" || request.method === "HEAD" || request.body === null;
    // Over maxRequestBodySize: refused before anything is sent when the length is declared, broken off when a stream passes it.
    const max = group.config.maxRequestBodySize ?? Number.POSITIVE_INFINITY;
    if (!noBody && Number(request.headers.get("content-length") ?? 0) > max) return finish(withId(contentTooLarge()));
    // A body is read whole up to what a retry may resend, or a mirror copy may carry.
    const mirrorTo = req.mirrorTo;
    const mirrorMax = mirrorTo === undefined ? 0 : group.config.mirror!.maxBodyBytes;
    const declared = noBody ? 0 : Number(request.headers.get("content-length") ?? -1);
    const { body, replayable: buffered, clientFailed, tooLarge, sent } = noBody
      ? NO_BODY
      : await replayableBody(request, Math.max(retries.maxReplayBodyBytes, mirrorMax), platform.fixedLength, max, platform.streamReadSize);
    const replayable = buffered && declared <= retries.maxReplayBodyBytes;
    const tried = new Set<PoolTarget>();
    const question = (attempt: number, now: number) => ({
      method: request.method,
      headers: request.headers,
      bodyReplayable: replayable,
      attempt,
      elapsedMs: now - arrived,
      config: retries,
    });
    let last: Response | undefined;

    for (let n = 1;; n++) {
      // A retry over the group's retry budget is not made: the client gets the failure it has.
      const retrying = n > 1;
      if (retrying && !group.retryBudgetAllows()) {
        group.metrics.retriesRefused++;
        return finish(withId(last ?? serviceUnavailable()));
      }
      // A valid sticky binding wins while its target can take traffic; otherwise the strategy picks (and a new cookie is issued).
      let now0 = n === 1 ? arrived : platform.now();
      // Requests waiting for a slot go first (pool/slot-queue.ts).
      let target = retrying || !group.waiting ? pickTarget(group, c, client, n === 1 ? bound : undefined, tried, now0) : undefined;
      if (target === undefined && !retrying) {
        // Every target that is up is at its maxConnections: a first attempt may wait for a slot.
        target = await group.waitForTarget(() => pickTarget(group, c, client, bound, tried, platform.now()), request.signal);
        if (request.signal.aborted) return finish(clientClosed());
        now0 = platform.now();
        // The wait took what the retry budget allows: no attempt that would be cut at once and blamed on the target.
        if (target !== undefined && retries.budget > 0 && retries.budget * 1000 - (now0 - arrived) < 1) return finish(withId(serviceUnavailable()));
      }
      if (!target) return finish(withId(last ?? serviceUnavailable()));
      if (last) await last.body?.cancel().catch(() => {});
      last = undefined;
      tried.add(target);
      attempts = n;
      lastTarget = target;
      lastError = undefined;
      upstreamMs = undefined;
      // `preserve` needs nothing: the copied headers carry the client's Host, and only `target` mode changes it.
      if (group.config.hostHeader === "target") headers.set("host", target.host);

      // The retry budget bounds every attempt too, not just the decision to retry.
      const timeoutMs = retries.budget > 0 ? Math.max(1, Math.min(group.responseTimeoutMs, retries.budget * 1000 - (now0 - arrived))) : group.responseTimeoutMs;
      const abort = attemptAbort(platform, request, timeoutMs, sent);
      // The headers this attempt sends: the rule's and group's transform applied to a copy (the target is a placeholder).
      let attemptHeaders = headers;
      if (transform?.request !== undefined) transform.request(attemptHeaders = new Headers(headers), varsOf(req, group, requestId, target));
      if (mirrorTo !== undefined && n === 1) {
        // A copy of the first attempt (proxy/mirror.ts); its body only when read whole within the mirror's cap
        // (the buffer a retry would resend, never changed).
        const copied = noBody ? null : buffered && declared >= 0 && declared <= mirrorMax ? (body() as BodyInit) : undefined;
        const clientHost = request.headers.get("host");
        mirror(platform, mirrorTo, {
          c,
          clientIp: client.client,
          method: request.method,
          path: upstreamPath,
          headers: attemptHeaders,
          clientHost,
          body: copied,
        });
      }
      const attempt = (holding = new Attempt(ctx, target, now0));
      let upstream: Response;
      if (retrying) group.retriesInFlight++;
      try {
        upstream = await platform.upstream({
          origin: target.origin,
          path: upstreamPath,
          method: request.method,
          headers: attemptHeaders,
          body: body() as ReadableStream<Uint8Array> | null,
          cancellation: abort.cancellation,
          connectTimeoutMs: group.connectTimeoutMs,
        });
      } catch (error) {
        release();
        if (tooLarge()) return finish(withId(contentTooLarge()));
        const clientBroke = clientFailed();
        if (abort.cancellation.reason === CLIENT_GONE || request.signal.aborted || clientBroke === true) {
          // The client left (or broke its upload): not the target's fault, nothing to retry.
          return finish(clientClosed());
        }
        // The upstream client would not send it: nothing reached the target, and no other target would take it either.
        if (error instanceof MalformedRequestError) return finish(withId(badRequest("the request cannot be forwarded")));
        const kind = attemptFailure(abort.cancellation, error);
        lastError = kind;
        const failure = withId(kind === "timeout" ? gatewayTimeout() : badGateway());
        // An upload that could not be watched broke: the client may have left, so it is not counted against the target.
        if (clientBroke === undefined && kind !== "connect") return finish(failure);
        const now = attempt.failed(kind, error);
        if (!attempt.retry(question(n, now), kind)) return finish(failure);
        // Answer with this failure if no other target can take the retry.
        last = failure;
        continue;
      } finally {
        abort.settle();
        if (retrying) group.retriesInFlight--;
      }

      const answered = attempt.answered(upstream.status);
      const now = answered.at;
      upstreamMs = answered.latencyMs;
      const retry = retries.retryOn.includes(upstream.status) && attempt.retry(question(n, now), { status: upstream.status });

      // Edit the target's response in place (the platform hands out mutable headers).
      // Status first: on Node, reading `.body` turns @hono/node-server's lightweight
      // Response into a full one (a web stream per request, measured).
      const mustDropBody = bodyless(request.method, upstream.status) && upstream.body !== null;
      const response = mustDropBody ? new Response(null, upstream) : upstream;
      const responseHeaders = response.headers;
      stripHopByHop(responseHeaders);
      if (!responseHeaders.has(idHeader)) responseHeaders.set(idHeader, requestId);
      if (sticky) {
        const index = group.indexOf(target);
        if (sticky.shouldIssue(responseHeaders, index, binding, nowSec)) await sticky.issue(responseHeaders, index, nowSec);
      }
      if (mustDropBody) upstream.body!.cancel().catch(() => {});
      if (!retry) return finish(response, now, !mustDropBody);
      // Keep it: if no other target can take the retry, the client gets this answer.
      release();
      last = response;
    }
  }
}
