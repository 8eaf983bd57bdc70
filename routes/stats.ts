/**
 * The balancer's own observability endpoints, as one Hono sub-app to mount
 * before the proxy catch-all: the stats page (`admin.stats.path`), its JSON
 * (`<path>/status.json`, the same data, for scripts) and the Prometheus
 * endpoint (`admin.metrics.path`). Each is registered only when configured.
 * The admin API's own listener serves the same page at `/` (statsPage).
 */
import { type Context, Hono } from "hono";
import type { CanaryView, RuleStatus } from "../src/admin/api-schema.ts";
import type { HealthProvider, StateStatus } from "../src/metrics/health-provider.ts";
import type { Metrics } from "../src/metrics/registry.ts";
import { statusSnapshot } from "../src/metrics/snapshot.ts";
import { createAuthCheck, unauthorized } from "../src/stats/auth.ts";
import { statsPage } from "../src/stats/page.ts";
import type { MetricsEndpointConfig, StatsConfig } from "../src/stats/schema.ts";
import type { ChangeEvent } from "../src/state/store.ts";
import { metricsRoute, metricsView } from "./metrics.ts";
import type { HostMetrics } from "../src/metrics/export.ts";

/** What the page shows beyond the metrics: the rules' actions and the change log. */
export interface PageExtras {
  rules(): readonly RuleStatus[];
  /** The newest entries of the change log; empty when the store does not answer. */
  events(): Promise<readonly ChangeEvent[]>;
  /** The automatic canaries, with their step's numbers; absent or empty without any. */
  canaries?(): Promise<readonly CanaryView[]>;
}

export interface StatsDeps {
  metrics: Metrics;
  health: HealthProvider;
  /** The shared state store's status (for /metrics). */
  state?: () => StateStatus;
  /** Client connections open now, where the runtime counts them (for /metrics). */
  connections?: () => number;
  /** The host's workers, when this process is one of them (or their primary): the numbers shown are the host's. */
  host?: HostMetrics;
  /** `config.admin` (its `stats` and `metrics` keys). */
  config: { readonly stats?: StatsConfig; readonly metrics?: MetricsEndpointConfig };
  env: Readonly<Record<string, unknown>>;
  /** Default: no rules or change log shown. */
  extras?: PageExtras;
  /** The admin API's path when it is served on this listener: the page then offers actions (drain, weight) to viewers it accepts. */
  api?: string | undefined;
}

const noStore = { "cache-control": "no-store" };

export interface StatsPageOptions {
  readonly path: string;
  readonly refresh: number;
  /** undefined: let the request in; a Response: answer it instead (401, 403). */
  readonly access: (req: Request) => Promise<Response | undefined>;
  readonly api: string | undefined;
}

/** The page and its status.json at `options.path`. */
export function statsPageRoutes(app: Hono, deps: Pick<StatsDeps, "metrics" | "health" | "extras" | "host">, options: StatsPageOptions): void {
  const extras = deps.extras ?? { rules: () => [], events: async () => [] };
  const statusPath = `${options.path === "/" ? "" : options.path}/status.json`;
  const guard = (handler: (c: Context) => Response | Promise<Response>) => async (c: Context) => (await options.access(c.req.raw)) ?? handler(c);
  const status = async () => {
    const view = await metricsView(deps);
    return {
      ...statusSnapshot(view.metrics, view.health),
      ...(view.host ? { workers: view.host.workers } : {}),
      ruleActions: extras.rules(),
      events: await extras.events().catch(() => []),
      canaries: (await extras.canaries?.().catch(() => [])) ?? [],
    };
  };
  app.get(
    options.path,
    guard(async (c) =>
      c.html(statsPage({ statusPath, refresh: options.refresh, api: options.api, initial: await status() }), 200, {
        ...noStore,
        // Everything is inline; nothing may load from elsewhere.
        "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src 'self'",
        "x-frame-options": "DENY",
      })
    ),
  );
  app.get(statusPath, guard(async (c) => c.json(await status(), 200, noStore)));
}

/** @throws at startup when an auth secret's environment variable is missing */
export function statsRoutes(deps: StatsDeps): Hono {
  const app = new Hono();
  const stats = deps.config.stats;
  if (stats) {
    const auth = createAuthCheck(stats.auth, deps.env, "fulcrum stats", "admin.stats.auth");
    statsPageRoutes(app, deps, {
      path: stats.path,
      refresh: stats.refresh,
      access: async (req) => ((await auth.verify(req)) ? undefined : unauthorized(auth)),
      api: deps.api,
    });
  }
  if (deps.config.metrics) app.get(deps.config.metrics.path, metricsRoute({ ...deps, config: deps.config.metrics }));
  return app;
}
