/** The balancer's own health endpoint (never forwarded): 200, or 503 while shutting down. */
import type { Context } from "hono";

export function healthRoute(shuttingDown: () => boolean) {
  return function health(c: Context): Response {
    if (shuttingDown()) return c.json({ status: "shutting_down" }, 503, { "cache-control": "no-store" });
    return c.json({ status: "ok" }, 200, { "cache-control": "no-store" });
  };
}
