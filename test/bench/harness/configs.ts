/**
 * The two Fulcrum configs the benchmark runs. Kept in one place so that the
 * "realistic" one can follow the schema as features land: the harness runs
 * `fulcrum check` on it first and reports "not yet runnable" with the
 * checker's reason instead of failing when a key is not accepted yet.
 */

export type FulcrumConfigName = "minimal" | "realistic";

/** Round robin over the three backends, every other key at its default. */
export function minimalConfig(port: number, backends: readonly number[]): Record<string, unknown> {
  return {
    listen: { port, host: "127.0.0.1" },
    targetGroups: {
      app: { strategy: "round_robin", targets: backends.map((p) => ({ url: `http://127.0.0.1:${p}` })) },
    },
    defaultAction: { forward: "app" },
  };
}

/**
 * What a production config turns on: listener rules the request has to be
 * matched against (the benchmark path `/` falls through all three to the
 * default action, the worst case), cookie stickiness (wrk sends no cookie,
 * so every response carries a fresh HMAC-signed Set-Cookie, again the
 * costlier path), active health checks, and the metrics and stats endpoints.
 * Key names follow src/rules/schema.ts, src/sticky/schema.ts,
 * src/health/schema.ts and src/stats/schema.ts.
 */
export function realisticConfig(port: number, backends: readonly number[]): Record<string, unknown> {
  const targets = backends.map((p) => ({ url: `http://127.0.0.1:${p}` }));
  return {
    listen: { port, host: "127.0.0.1" },
    targetGroups: {
      app: {
        strategy: "round_robin",
        targets,
        stickiness: { type: "lb_cookie", duration: 86400, secret: "bench-secret-bench-secret-bench-secret" },
        healthCheck: { path: "/healthz", interval: 5, timeout: 2, healthyThreshold: 2, unhealthyThreshold: 2 },
      },
      api: { strategy: "least_connections", targets },
    },
    rules: [
      { priority: 10, conditions: [{ pathPattern: { values: ["/api/*"] } }], action: { forward: "api" } },
      { priority: 20, conditions: [{ hostHeader: { values: ["api.example.com"] } }], action: { forward: "api" } },
      { priority: 30, conditions: [{ httpHeader: { name: "X-Canary", values: ["1"] } }], action: { forward: "api" } },
    ],
    defaultAction: { forward: "app" },
    admin: {
      metrics: { path: "/__fulcrum/metrics" },
      stats: { auth: { basic: { username: "admin", password: "bench" } } },
    },
  };
}

/**
 * `adminPort`: the admin API's own port (Bun, Deno, Node). Without it the API is off: several
 * balancers run at once and would all want its default 127.0.0.1:9901; it is not on the
 * request path either way (a listener of its own).
 */
export function fulcrumConfig(name: FulcrumConfigName, port: number, backends: readonly number[], adminPort?: number): Record<string, unknown> {
  const config = name === "minimal" ? minimalConfig(port, backends) : realisticConfig(port, backends);
  const api = adminPort === undefined ? false : { listen: { port: adminPort } };
  return { ...config, admin: { ...(config.admin as object | undefined), api } };
}
