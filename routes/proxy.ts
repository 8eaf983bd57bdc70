/** Catch-all route: every request not owned by the balancer goes to the listener's action. */
import type { Context } from "hono";
import type { Balancer } from "../src/balancer.ts";
import { forward } from "../src/proxy/forward.ts";

export function proxyRoute(balancer: Balancer) {
  const defaultGroup = balancer.group(balancer.config.defaultAction.forward);
  return function proxy(c: Context): Promise<Response> {
    return forward(balancer, defaultGroup, c);
  };
}
