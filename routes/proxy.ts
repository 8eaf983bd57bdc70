/**
 * Catch-all route: every request not owned by the balancer runs the listener
 * rules (ALB: lowest priority first, `defaultAction` when none matches) and
 * then the matched action: forward (to one group or weighted groups with
 * group stickiness), redirect, or fixed response.
 */
import type { Context } from "hono";
import type { Balancer } from "../src/balancer.ts";
import { forward, rawPathAndQuery } from "../src/proxy/forward.ts";
import { forwardWebSocket, isWebSocketUpgrade } from "../src/proxy/websocket-forward.ts";
import { chooseWeightedGroup, fixedResponse, groupStickinessCookie, redirectResponse, stickyGroupFrom } from "../src/rules/actions.ts";
import type { Router } from "../src/rules/compile.ts";
import { ambiguousPath } from "../src/rules/normalize-path.ts";
import { badRequest } from "../src/proxy/errors.ts";

export function proxyRoute(balancer: Balancer, router: () => Router, reserved: (method: string, rawPath: string) => Response | undefined) {
  const { platform } = balancer;
  const { websocket } = platform;
  return async function proxy(c: Context): Promise<Response> {
    const request = c.req.raw;
    const pathAndQuery = rawPathAndQuery(request.url);
    const q = pathAndQuery.indexOf("?");
    const path = q < 0 ? pathAndQuery : pathAndQuery.slice(0, q);
    // A path whose meaning depends on the target cannot be matched safely (rules/normalize-path.ts).
    if (ambiguousPath(path)) return badRequest("ambiguous path");
    const own = reserved(request.method, path);
    if (own) return own;
    const clientIp = balancer.clientIp(c);
    const { rule, action } = router().match({
      method: request.method,
      host: request.headers.get("host"),
      path,
      query: q < 0 ? "" : pathAndQuery.slice(q + 1),
      headers: request.headers,
      clientIp: clientIp.client,
    });
    switch (action.kind) {
      case "redirect":
        return redirectResponse(action, { url: request.url, proto: balancer.scheme(request, clientIp.trusted) });
      case "fixedResponse":
        return fixedResponse(action);
      case "forward": {
        const sticky = stickyGroupFrom(request.headers, action.stickiness);
        const choice = chooseWeightedGroup(action, platform.random, sticky);
        const group = balancer.group(choice.group);
        const groupCookie = choice.setStickiness && action.stickiness ? groupStickinessCookie(action.stickiness, choice.group, Math.floor(Date.now() / 1000)) : undefined;
        // Same rules, group choice and stickiness as HTTP; the 101 carries the group cookie where the runtime can send headers with it.
        if (websocket && isWebSocketUpgrade(request)) {
          return forwardWebSocket(balancer, websocket, group, c, clientIp, rule, pathAndQuery, groupCookie ? new Headers({ "set-cookie": groupCookie }) : undefined);
        }
        const response = await forward(balancer, group, c, clientIp, rule, pathAndQuery);
        if (groupCookie) response.headers.append("set-cookie", groupCookie);
        return response;
      }
    }
  };
}
