/** The Prometheus scrape endpoint (text format 0.0.4), behind optional auth. */
import type { Context } from "hono";
import type { HealthProvider, StateStatus } from "../src/metrics/health-provider.ts";
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from "../src/metrics/prometheus.ts";
import type { Metrics } from "../src/metrics/registry.ts";
import { createAuthCheck, unauthorized } from "../src/stats/auth.ts";
import type { MetricsEndpointConfig } from "../src/stats/schema.ts";

export interface MetricsRouteDeps {
  metrics: Metrics;
  health: HealthProvider;
  /** The shared state store's status, when the balancer has one. */
  state?: () => StateStatus;
  /** Client connections open now, where the runtime counts them. */
  connections?: () => number;
  config: MetricsEndpointConfig;
  env: Readonly<Record<string, unknown>>;
}

/** @throws at startup when an auth secret's environment variable is missing */
export function metricsRoute(deps: MetricsRouteDeps) {
  const auth = deps.config.auth && createAuthCheck(deps.config.auth, deps.env, "fulcrum metrics", "admin.metrics.auth");
  return async function metrics(c: Context): Promise<Response> {
    if (auth && !(await auth.verify(c.req.raw))) return unauthorized(auth);
    return new Response(renderPrometheus(deps.metrics, deps.health(), deps.state?.(), deps.connections?.()), {
      headers: { "content-type": PROMETHEUS_CONTENT_TYPE, "cache-control": "no-store" },
    });
  };
}
