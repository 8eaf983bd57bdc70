/**
 * The balancer's own observability endpoints, as one Hono sub-app to mount
 * before the proxy catch-all: the stats page (`admin.stats.path`), its JSON
 * (`<path>/status.json`, the same data, for scripts) and the Prometheus
 * endpoint (`admin.metrics.path`). Each is registered only when configured.
 */
import { type Context, Hono } from "hono";
import type { HealthProvider, StateStatus } from "../src/metrics/health-provider.ts";
import type { Metrics } from "../src/metrics/registry.ts";
import { statusSnapshot } from "../src/metrics/snapshot.ts";
import { createAuthCheck, unauthorized } from "../src/stats/auth.ts";
import { statsPage } from "../src/stats/page.ts";
import type { MetricsEndpointConfig, StatsConfig } from "../src/stats/schema.ts";
import { metricsRoute } from "./metrics.ts";

export interface StatsDeps {
  metrics: Metrics;
  health: HealthProvider;
  /** The shared state store's status (for /metrics). */
  state?: () => StateStatus;
  /** `config.admin` (its `stats` and `metrics` keys). */
  config: { readonly stats?: StatsConfig; readonly metrics?: MetricsEndpointConfig };
  env: Readonly<Record<string, unknown>>;
}

const noStore = { "cache-control": "no-store" };

/** @throws at startup when an auth secret's environment variable is missing */
export function statsRoutes(deps: StatsDeps): Hono {
  const app = new Hono();
  const stats = deps.config.stats;
  if (stats) {
    const auth = createAuthCheck(stats.auth, deps.env, "fulcrum stats", "admin.stats.auth");
    const statusPath = `${stats.path === "/" ? "" : stats.path}/status.json`;
    const guard = (handler: (c: Context) => Response) => async (c: Context) => ((await auth.verify(c.req.raw)) ? handler(c) : unauthorized(auth));
    app.get(
      stats.path,
      guard((c) =>
        c.html(statsPage({ statusPath, refresh: stats.refresh, initial: statusSnapshot(deps.metrics, deps.health()) }), 200, {
          ...noStore,
          // Everything is inline; nothing may load from elsewhere.
          "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src 'self'",
          "x-frame-options": "DENY",
        })
      ),
    );
    app.get(statusPath, guard((c) => c.json(statusSnapshot(deps.metrics, deps.health()), 200, noStore)));
  }
  if (deps.config.metrics) app.get(deps.config.metrics.path, metricsRoute({ ...deps, config: deps.config.metrics }));
  return app;
}
