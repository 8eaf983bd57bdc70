/**
 * Cloudflare Workers entry. The config is bundled at build time: the Worker's
 * main module imports it (see wrangler.toml `[alias]`) and calls
 * `createWorker(config)`. TLS ends at Cloudflare's edge; the client address is
 * `CF-Connecting-IP`, which Cloudflare sets (and which is whatever a local
 * client sent under `wrangler dev`).
 */
import { getConnInfo } from "hono/cloudflare-workers";
import { createBalancer, type BalancerApp } from "../balancer.ts";
import { validateConfig } from "../config/load.ts";
import { commonPlatform, type Platform } from "../platform.ts";
import { fetchUpstream } from "./fetch-upstream.ts";
import { fetchConnect, pairAccept } from "../proxy/websocket-standard.ts";
import type { StateConfig } from "../state/schema.ts";
import type { StateStore } from "../state/store.ts";

/**
 * The stores a Worker can open. Synchronous: bindings are plain objects on
 * `env`, and the isolate builds its balancer inside the first request.
 */
export interface WorkerStores {
  readonly cloudflare?: (config: Extract<StateConfig, { store: "cloudflare" }>, env: Record<string, unknown>) => StateStore;
}

type ExecutionContext = import("hono").ExecutionContext;

export function createWorker(configInput: unknown, stores: WorkerStores = {}) {
  // Validate at module load so that a bad config fails `wrangler dev`/`deploy`, not the first request.
  const config = validateConfig(configInput, "bundled config");
  if (config.state.store !== "memory" && !(config.state.store === "cloudflare" && stores.cloudflare)) {
    throw new Error(`bundled config: state.store: ${JSON.stringify(config.state.store)} is not available on workerd, expected "memory" or "cloudflare"`);
  }
  // One balancer per isolate: health, counters and sticky keys live as long as the isolate.
  let app: BalancerApp | undefined;
  // The first request waits for start-up work (sticky keys, the shared store's first snapshot); later ones never do.
  let starting: Promise<void> | undefined;
  let started = false;
  const balancerFor = (env: Record<string, unknown>): BalancerApp => {
    if (!app) {
      const platform: Platform = {
        ...commonPlatform,
        runtime: "workerd",
        upstream: fetchUpstream(),
        clientAddress: (c) => getConnInfo(c).remote.address,
        mutableUpstreamResponses: false,
        // Upstream through fetch + Upgrade (Host is always the target's there), the client through a WebSocketPair.
        websocket: { connect: fetchConnect, accept: (_c, init) => pairAccept(init) },
        env,
        log: (line) => console.log(line),
        ...(config.state.store === "cloudflare" ? { state: stores.cloudflare!(config.state, env) } : {}),
      };
      const created = createBalancer(config, platform);
      app = created;
      // A Worker has no start-up to fail: a store that cannot be read yet leaves the config's state (fail static).
      starting = created.balancer.ready().then(
        () => void (started = true),
        (error: unknown) => {
          started = true;
          platform.log(`fulcrum: start-up: ${error instanceof Error ? error.message : String(error)}`);
        },
      );
    }
    return app;
  };
  return {
    fetch(request: Request, env: Record<string, unknown>, ctx: ExecutionContext): Response | Promise<Response> {
      const app = balancerFor(env);
      // No timers outside a request on Workers: probes that are due run after the response.
      if (app.balancer.healthChecks.enabled) ctx.waitUntil(app.balancer.healthChecks.runDue());
      if (!started) return starting!.then(() => app.fetch(request, env, ctx));
      return app.fetch(request, env, ctx);
    },
    /** Cron trigger (wrangler.toml `[triggers] crons`): probe every target even when no traffic arrives. */
    scheduled(_event: unknown, env: Record<string, unknown>, ctx: ExecutionContext): void {
      ctx.waitUntil(balancerFor(env).balancer.healthChecks.runAll());
    },
  };
}
