/**
 * The Hono app of each listener: malformed requests refused first
 * (edge/request-guard.ts), then the balancer's own endpoints (health, stats,
 * metrics), then the reserved admin space and the proxy route, which reads
 * the current generation on each request. All listeners share one balancer.
 */
import { Hono } from "hono";
import { healthRoute } from "../../routes/health.ts";
import { proxyRoute } from "../../routes/proxy.ts";
import { statsRoutes } from "../../routes/stats.ts";
import { type Config, listenersOf } from "../config/schema.ts";
import { type AdminPaths, adminSpace } from "../edge/admin-space.ts";
import { rejectAtEdge } from "../edge/request-guard.ts";
import type { Metrics } from "../metrics/registry.ts";
import type { HealthProvider } from "../metrics/health-provider.ts";
import type { Platform } from "../platform.ts";
import { errorDetail, internalError } from "../proxy/errors.ts";
import type { Generation } from "./generation.ts";

/** What the listener apps need of the balancer. */
export interface Served {
  readonly platform: Platform;
  readonly metrics: Metrics;
  readonly current: Generation;
  readonly shuttingDown: boolean;
  readonly healthProvider: HealthProvider;
  readonly healthChecks: { readonly storeReachable: boolean };
}

/** The paths the balancer answers itself; no other spelling of them is forwarded (edge/admin-space.ts). */
export function adminPathsOf(admin: Config["admin"]): AdminPaths {
  const { healthPath, stats, metrics } = admin;
  const statsPath = stats && (stats.path === "/" ? "" : stats.path);
  return {
    exact: [healthPath, ...(stats ? [stats.path, `${statsPath}/status.json`] : []), ...(metrics ? [metrics.path] : [])],
    subtrees: stats && stats.path !== "/" ? [stats.path] : [],
  };
}

/** One app per listener of `config`, in config order. The admin endpoints are the first config's. */
export function listenerApps(served: Served, config: Config): Hono[] {
  const { platform } = served;
  // Stats page, status JSON and /metrics, mounted on every listener before the catch-all.
  const adminRoutes = statsRoutes({
    metrics: served.metrics,
    health: served.healthProvider,
    state: () => ({ store: served.current.config.state.store, reachable: served.healthChecks.storeReachable }),
    config: config.admin,
    env: platform.env,
  });
  const reserved = adminSpace(adminPathsOf(config.admin));
  return listenersOf(config).map((_, listener) => {
    const app = new Hono();
    const route = app.fetch;
    // Malformed requests are refused before any route sees them (edge/request-guard.ts).
    app.fetch = (request, env, ctx) => rejectAtEdge(request) ?? route(request, env, ctx);
    app.onError((error) => {
      // Never show a client a stack trace; the operator gets it in the log.
      platform.log(`internal error: ${errorDetail(error)}`);
      return internalError();
    });
    app.get(config.admin.healthPath, healthRoute(() => served.shuttingDown));
    app.route("/", adminRoutes);
    app.all("*", proxyRoute({ current: () => served.current, listener, reserved, websocket: platform.websocket, random: platform.random }));
    return app;
  });
}
