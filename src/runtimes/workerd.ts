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

type ExecutionContext = import("hono").ExecutionContext;

export function createWorker(configInput: unknown) {
  // Validate at module load so that a bad config fails `wrangler dev`/`deploy`, not the first request.
  const config = validateConfig(configInput, "bundled config");
  // One balancer per isolate: health, counters and sticky keys live as long as the isolate.
  let app: BalancerApp | undefined;
  const balancerFor = (env: Record<string, unknown>): BalancerApp => {
    if (!app) {
      const platform: Platform = {
        ...commonPlatform,
        runtime: "workerd",
        upstream: fetchUpstream(),
        clientAddress: (c) => getConnInfo(c).remote.address,
        mutableUpstreamResponses: false,
        env,
        log: (line) => console.log(line),
      };
      app = createBalancer(config, platform);
    }
    return app;
  };
  return {
    fetch(request: Request, env: Record<string, unknown>, ctx: ExecutionContext): Response | Promise<Response> {
      const app = balancerFor(env);
      // No timers outside a request on Workers: probes that are due run after the response.
      if (app.balancer.healthChecks.enabled) ctx.waitUntil(app.balancer.healthChecks.runDue());
      return app.fetch(request, env, ctx);
    },
    /** Cron trigger (wrangler.toml `[triggers] crons`): probe every target even when no traffic arrives. */
    scheduled(_event: unknown, env: Record<string, unknown>, ctx: ExecutionContext): void {
      ctx.waitUntil(balancerFor(env).balancer.healthChecks.runAll());
    },
  };
}
