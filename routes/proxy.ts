/**
 * Catch-all route: every request not owned by the balancer runs the listener
 * rules (ALB: lowest priority first, `defaultAction` when none matches) and
 * then the matched action: forward (to one group or weighted groups with
 * group stickiness), redirect, or fixed response. It reads the current
 * generation once, so one request sees one config.
 */
import type { Context } from "hono";
import { type RuleMetrics, statusClassIndex } from "../src/metrics/registry.ts";
import type { Geo, WebSocketCapability } from "../src/platform.ts";
import type { TargetGroup } from "../src/pool/group.ts";
import { type ClientAddressOf, clientScheme } from "../src/proxy/client-address.ts";
import type { ProxyContext } from "../src/proxy/context.ts";
import { badRequest } from "../src/proxy/errors.ts";
import { forward } from "../src/proxy/forward.ts";
import { rawPathAndQuery } from "../src/proxy/upstream-request.ts";
import { forwardWebSocket, isWebSocketUpgrade } from "../src/proxy/websocket-forward.ts";
import { chooseWeightedGroup, fixedResponse, groupStickinessCookie, redirectResponse, stickyGroupFrom } from "../src/rules/actions.ts";
import type { Router } from "../src/rules/compile.ts";
import type { RateLimiter } from "../src/ratelimit/limiter.ts";
import type { Transform } from "../src/transform/transform.ts";
import type { Verdict } from "../src/ratelimit/buckets.ts";
import { ambiguousPath } from "../src/rules/normalize-path.ts";

/** What the route needs of the current generation (src/app/generation.ts). */
export interface RouteView {
  readonly routers: readonly Router[];
  readonly proxy: ProxyContext;
  readonly clientAddress: ClientAddressOf;
  ruleMetrics(rule: number | undefined): RuleMetrics;
  group(name: string): TargetGroup;
  rateLimit(rule: number | undefined): RateLimiter | undefined;
  /** Where the automatic canaries measure their rules' requests (canary/controller.ts). */
  readonly canaries: CanaryMeasures;
  transform(rule: number | undefined, group: string): Transform | undefined;
  geo(request: Request, trusted: boolean): Geo | undefined;
}

/** What the route tells the automatic canaries of a canary rule's requests. */
export interface CanaryMeasures {
  /**
   * A request of rule `rule` (undefined: the default action) sent to `chosen` and served by
   * `served` (another group when `chosen` failed over) answered `status` after `ms`.
   */
  observe(rule: number | undefined, chosen: string, served: string, status: number, ms: number): void;
}

export interface ProxyRouteDeps {
  /** The current generation. */
  current(): RouteView;
  /** This listener's position in the config (its router). */
  readonly listener: number;
  /** The balancer's answer for its own reserved paths (src/edge/admin-space.ts). */
  readonly reserved: (method: string, rawPath: string) => Response | undefined;
  /** WebSocket upgrades, from the runtime adapter; absent: upgrades are forwarded as plain HTTP. */
  readonly websocket: WebSocketCapability | undefined;
  readonly random: () => number;
}

/**
 * The group that serves a request routed to `group`: itself, or where failover sends its traffic
 * while it is short of targets (pool/failover.ts). `fulcrum check` refuses loops; a chain is
 * followed a few steps at most all the same.
 */
function servingGroup(gen: RouteView, group: TargetGroup): TargetGroup {
  const now = gen.proxy.platform.now();
  for (let hops = 0; hops < 4; hops++) {
    const to = group.failingOverTo(now);
    if (to === undefined) return group;
    group = gen.group(to);
  }
  return group;
}

const FOUR_XX = statusClassIndex(429);

/** An answer with the rate limit's fields, when a limit applies. */
function limited(response: Response, limiter: RateLimiter | undefined, verdict: Verdict | undefined): Response {
  if (limiter !== undefined) limiter.annotate(response.headers, verdict!);
  return response;
}

export function proxyRoute(deps: ProxyRouteDeps) {
  const { websocket, listener, reserved } = deps;
  return async function proxy(c: Context): Promise<Response> {
    const gen = deps.current();
    const request = c.req.raw;
    const pathAndQuery = rawPathAndQuery(request.url);
    const q = pathAndQuery.indexOf("?");
    const path = q < 0 ? pathAndQuery : pathAndQuery.slice(0, q);
    // A path whose meaning depends on the target cannot be matched safely (rules/normalize-path.ts).
    if (ambiguousPath(path)) return badRequest("ambiguous path");
    const own = reserved(request.method, path);
    if (own) return own;
    const client = gen.clientAddress(c);
    const router = gen.routers[listener]!;
    const { rule, action } = router.match({
      method: request.method,
      host: request.headers.get("host"),
      path,
      query: q < 0 ? "" : pathAndQuery.slice(q + 1),
      headers: request.headers,
      clientIp: client.client,
      // Asked only by geo conditions, and only where the listener's rules have some.
      geo: router.usesGeo ? () => gen.geo(request, client.trusted) : undefined,
    });
    // A rate limit applies to whatever the rule does, before anything is sent anywhere.
    const limiter = gen.rateLimit(rule);
    let verdict: Verdict | undefined;
    if (limiter !== undefined) {
      verdict = limiter.check(c, client.client, gen.proxy.platform.now());
      if (!verdict.allowed) {
        // An answer of the rule's like any other (its 4xx), and counted as what it is.
        const m = gen.ruleMetrics(rule);
        m.rateLimited++;
        m.responses[FOUR_XX]!++;
        return limiter.refuse(verdict);
      }
    }
    switch (action.kind) {
      case "redirect":
        return limited(redirectResponse(action, { url: request.url, proto: clientScheme(request, client.trusted) }), limiter, verdict);
      case "fixedResponse":
        return limited(fixedResponse(action), limiter, verdict);
      case "forward": {
        const sticky = stickyGroupFrom(request.headers, action.stickiness);
        const choice = chooseWeightedGroup(action, deps.random, sticky);
        const group = servingGroup(gen, gen.group(choice.group));
        const groupCookie = choice.setStickiness && action.stickiness
          ? groupStickinessCookie(action.stickiness, choice.group, Math.floor(Date.now() / 1000))
          : undefined;
        const upgrade = websocket !== undefined && isWebSocketUpgrade(request);
        // WebSocket upgrades are not mirrored.
        const copy = upgrade ? undefined : group.config.mirror;
        const req = {
          c,
          client,
          rule: gen.ruleMetrics(rule),
          path: pathAndQuery,
          transform: gen.transform(rule, group.name),
          // A copy of this request to the group's mirror (proxy/mirror.ts), for its share of the requests.
          mirrorTo: copy !== undefined && deps.random() * 100 < copy.percent ? gen.group(copy.group) : undefined,
        };
        // Same rules, group choice and stickiness as HTTP; the 101 carries the group cookie where the runtime can send headers with it.
        if (upgrade) {
          return forwardWebSocket(gen.proxy, websocket!, group, req, groupCookie ? new Headers({ "set-cookie": groupCookie }) : undefined);
        }
        const started = action.canary === undefined ? 0 : gen.proxy.platform.now();
        const response = await forward(gen.proxy, group, req);
        // A canary's rule: its requests on either side, as the client saw them (to response headers).
        if (action.canary !== undefined) gen.canaries.observe(rule, choice.group, group.name, response.status, gen.proxy.platform.now() - started);
        if (groupCookie) response.headers.append("set-cookie", groupCookie);
        return limited(response, limiter, verdict);
      }
    }
  };
}
