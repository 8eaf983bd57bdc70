/** The Prometheus scrape endpoint (text format 0.0.4), behind optional auth. */
import type { Context } from "hono";
import type { HealthProvider, StateStatus } from "../src/metrics/health-provider.ts";
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from "../src/metrics/prometheus.ts";
import type { Metrics } from "../src/metrics/registry.ts";
import { type HostMetrics, hostMetricsView, type MetricsView } from "../src/metrics/export.ts";
import { createAuthCheck, unauthorized } from "../src/stats/auth.ts";
import type { MetricsEndpointConfig } from "../src/stats/schema.ts";

export interface MetricsRouteDeps {
  metrics: Metrics;
  health: HealthProvider;
  /** The shared state store's status, when the balancer has one. */
  state?: () => StateStatus;
  /** Client connections open now, where the runtime counts them. */
  connections?: () => number;
  /** The host's workers, when this process is one of them (or their primary): the numbers are the host's. */
  host?: HostMetrics;
  config: MetricsEndpointConfig;
  env: Readonly<Record<string, unknown>>;
}

/** @throws at startup when an auth secret's environment variable is missing */
export function metricsRoute(deps: MetricsRouteDeps) {
  const auth = deps.config.auth && createAuthCheck(deps.config.auth, deps.env, "fulcrum metrics", "admin.metrics.auth");
  return async function metrics(c: Context): Promise<Response> {
    if (auth && !(await auth.verify(c.req.raw))) return unauthorized(auth);
    const view = await metricsView(deps);
    return new Response(renderPrometheus(view.metrics, view.health, deps.state?.(), view.connections, view.host), {
      headers: { "content-type": PROMETHEUS_CONTENT_TYPE, "cache-control": "no-store" },
    });
  };
}

/** This process's numbers, or the host's when it has workers (this process's alone if the primary does not answer). */
export async function metricsView(deps: Pick<MetricsRouteDeps, "metrics" | "health" | "connections" | "host">): Promise<MetricsView> {
  const own = { metrics: deps.metrics, health: deps.health(), ...(deps.connections ? { connections: deps.connections() } : {}) };
  if (!deps.host) return own;
  try {
    return hostMetricsView(await deps.host.view(), own.health, { now: deps.metrics.now, balancer: deps.metrics.balancer });
  } catch {
    return own;
  }
}
