/**
 * The Hono apps a generation serves, by listener (config/schema.ts
 * `listenerKey`): on each traffic listener, malformed requests refused first
 * (edge/request-guard.ts), then the balancer's own endpoints (health, stats,
 * metrics, the admin API where it is a path), then the reserved admin space
 * and the proxy route, which reads the current generation on each request.
 * Where the runtime has a second port, the admin API has a listener of its
 * own (adminListenerKey), which also serves the stats page with its actions.
 */
import type { Context, Hono as HonoApp } from "hono";
import { Hono } from "hono";
import { adminApi } from "../../routes/admin-api.ts";
import { healthRoute } from "../../routes/health.ts";
import { proxyRoute } from "../../routes/proxy.ts";
import { type PageExtras, statsPageRoutes, statsRoutes } from "../../routes/stats.ts";
import { apiAccess } from "../admin/access.ts";
import type { AdminOps } from "../admin/ops.ts";
import { type ApiConfig, DEFAULT_API_HOST, DEFAULT_API_PORT } from "../admin/schema.ts";
import { type Config, listenerKey, listenersOf } from "../config/schema.ts";
import { type AdminPaths, adminSpace } from "../edge/admin-space.ts";
import { rejectAtEdge } from "../edge/request-guard.ts";
import type { HealthProvider } from "../metrics/health-provider.ts";
import type { Metrics } from "../metrics/registry.ts";
import type { HostWorkers } from "./host.ts";
import type { Platform } from "../platform.ts";
import { errorDetail, internalError } from "../proxy/errors.ts";
import type { Generation } from "./generation.ts";

/**
 * The key of the admin API's own listener among a generation's apps and bound listeners. Its
 * address is part of it, as a traffic listener's is, so that a reload moving the API (say from
 * 0.0.0.0 to loopback, dropping its credentials) binds the new address and closes the old one,
 * rather than serving the new access rules on the old socket.
 */
export function adminListenerKey(api: ApiConfig): string {
  const { port, host } = api.listen ?? { port: DEFAULT_API_PORT, host: DEFAULT_API_HOST };
  return `admin ${host}:${port}`;
}

/** What the listener apps need of the balancer. */
export interface Served {
  readonly platform: Platform;
  readonly metrics: Metrics;
  readonly current: Generation;
  readonly shuttingDown: boolean;
  /** A worker being replaced: every response asks its client to close the connection (and reconnect elsewhere). */
  readonly closingConnections: boolean;
  readonly healthProvider: HealthProvider;
  readonly healthChecks: { readonly storeReachable: boolean };
  readonly control: AdminOps;
  readonly pageExtras: PageExtras;
  /** The host's worker processes (`--workers`): /metrics and the stats page show the host. */
  readonly workers: HostWorkers | undefined;
}

/**
 * How a config's admin API is served where the runtime does or does not have
 * a second port: its own listener, a path on the traffic listeners, or off.
 * Unset, it is on its own loopback port where there is one, and off where
 * there is not (it would need credentials there).
 * @throws when the config asks for a listener the runtime cannot give
 */
export function apiMode(config: Config, secondPort: boolean): { readonly listen: ApiConfig } | { readonly path: ApiConfig & { path: string } } | undefined {
  const api = config.admin.api;
  if (api === false) return undefined;
  if (api?.path !== undefined) return { path: api as ApiConfig & { path: string } };
  if (!secondPort) {
    if (api === undefined) return undefined;
    throw new Error('admin.api.listen: this runtime serves one port (Workers, Deno Deploy); use admin.api: { "path": "/__fulcrum/api", "auth": ... }');
  }
  return { listen: api ?? { listen: { port: DEFAULT_API_PORT, host: DEFAULT_API_HOST } } };
}

/** The paths the balancer answers itself; no other spelling of them is forwarded (edge/admin-space.ts). */
export function adminPathsOf(admin: Config["admin"]): AdminPaths {
  const { healthPath, stats, metrics } = admin;
  const statsPath = stats && (stats.path === "/" ? "" : stats.path);
  const api = admin.api !== false && admin.api?.path !== undefined ? [admin.api.path] : [];
  return {
    exact: [healthPath, ...(stats ? [stats.path, `${statsPath}/status.json`] : []), ...(metrics ? [metrics.path] : [])],
    subtrees: [...(stats && stats.path !== "/" ? [stats.path] : []), ...api],
  };
}

/** One app per listener of `config` by listener key, plus the admin listener's when `secondPort`. The admin endpoints are on each. */
export function listenerApps(served: Served, config: Config, secondPort: boolean): Map<string, HonoApp> {
  const { platform } = served;
  const mode = apiMode(config, secondPort);
  const clientAddress = (c: Context) => {
    try {
      return platform.clientAddress(c);
    } catch {
      return undefined;
    }
  };
  const api = (base: string, spec: ApiConfig) =>
    adminApi({ ops: served.control, base, access: apiAccess(spec, platform.env), clientAddress, log: platform.log });
  const onPath = mode && "path" in mode ? { path: mode.path.path, app: api(mode.path.path, mode.path) } : undefined;
  // Stats page, status JSON and /metrics, mounted on every listener before the catch-all.
  const adminRoutes = statsRoutes({
    metrics: served.metrics,
    health: served.healthProvider,
    state: () => ({ store: served.current.config.state.store, reachable: served.healthChecks.storeReachable }),
    connections: platform.clientConnections,
    ...(served.workers ? { host: served.workers } : {}),
    config: config.admin,
    env: platform.env,
    extras: served.pageExtras,
    api: onPath?.path,
  });
  const reserved = adminSpace(adminPathsOf(config.admin));
  const apps = new Map<string, HonoApp>();
  listenersOf(config).forEach((l, listener) => {
    const app = guarded(new Hono(), platform);
    // A worker about to be replaced sends its keep-alive clients away one response at a time, so none
    // is caught by the close of an idle connection it was about to reuse (a reset the client sees).
    // Only then does a request pay for it: no middleware on the request path otherwise.
    const route = app.fetch;
    app.fetch = (request, env, ctx) => (served.closingConnections ? Promise.resolve(route(request, env, ctx)).then(closing) : route(request, env, ctx));
    app.get(config.admin.healthPath, healthRoute(() => served.shuttingDown));
    app.route("/", adminRoutes);
    if (onPath) {
      const toApi = (c: Context) => onPath.app.fetch(c.req.raw, c.env);
      app.all(onPath.path, toApi);
      app.all(`${onPath.path}/*`, toApi);
    }
    app.all("*", proxyRoute({ current: () => served.current, listener, reserved, websocket: platform.websocket, random: platform.random }));
    apps.set(listenerKey(l, listener), app);
  });
  if (mode && "listen" in mode) {
    const access = apiAccess(mode.listen, platform.env);
    // The API answers its own errors (AdminError: 4xx with the reason); only the edge checks are added.
    const app = guarded(new Hono(), platform, false);
    // Its own stats page, with actions: same origin as the API, same credentials. Before the API, whose 404 takes the rest.
    statsPageRoutes(app, {
      metrics: served.metrics,
      health: served.healthProvider,
      extras: served.pageExtras,
      ...(served.workers ? { host: served.workers } : {}),
    }, {
      path: "/",
      refresh: config.admin.stats?.refresh ?? 2,
      access: async (req) => {
        const a = await access(req);
        return "refused" in a ? a.refused : undefined;
      },
      api: "",
    });
    app.route("/", api("", mode.listen) as unknown as Hono);
    apps.set(adminListenerKey(mode.listen), app);
  }
  return apps;
}

/** Malformed requests refused before any route sees them; no client ever sees a stack trace. */
/** The response with `Connection: close` (a copy where its headers are immutable); an upgrade's 101 as it is. */
function closing(response: Response): Response {
  if (response.status === 101) return response;
  try {
    response.headers.set("connection", "close");
    return response;
  } catch {
    const copy = new Response(response.body, response);
    copy.headers.set("connection", "close");
    return copy;
  }
}

function guarded(app: Hono, platform: Platform, onError = true): Hono {
  const route = app.fetch;
  app.fetch = (request, env, ctx) => rejectAtEdge(request) ?? route(request, env, ctx);
  if (onError) {
    app.onError((error) => {
      // The operator gets it in the log.
      platform.log(`internal error: ${errorDetail(error)}`);
      return internalError();
    });
  }
  return app;
}
