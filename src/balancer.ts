/**
 * `createBalancer(config, platform)`: the whole balancer as one Hono app on
 * web-standard APIs. Runtime adapters (src/runtimes/) build the platform and
 * serve `app.fetch`; nothing here knows which runtime it runs on.
 */
import { Hono } from "hono";
import type { Config } from "./config/schema.ts";
import { cidrMatcher } from "./net/ip.ts";
import type { Platform, UpstreamFailure } from "./platform.ts";
import { internalError } from "./proxy/errors.ts";
import { TargetGroup, type Target } from "./target-group.ts";
import { healthRoute } from "../routes/health.ts";
import { proxyRoute } from "../routes/proxy.ts";

/** The balancer's state and behaviour behind the app (used by routes and adapters). */
export class Balancer {
  readonly groups: ReadonlyMap<string, TargetGroup>;
  /** Set by the adapter when a shutdown starts; the health endpoint turns 503. */
  shuttingDown = false;
  readonly isTrustedProxy: (ip: string | undefined) => boolean;

  constructor(
    readonly config: Config,
    readonly platform: Platform,
  ) {
    this.groups = new Map(Object.entries(config.targetGroups).map(([name, g]) => [name, new TargetGroup(name, g, platform)]));
    this.isTrustedProxy = cidrMatcher(config.forwarding.trustedProxies);
  }

  group(name: string): TargetGroup {
    const g = this.groups.get(name);
    if (!g) throw new Error(`unknown target group ${name}`);
    return g;
  }

  logUpstreamFailure(target: Target, kind: UpstreamFailure, error: unknown): void {
    const detail = error instanceof Error ? error.message : String(error);
    this.platform.log(`upstream ${kind} error: group=${target.group} target=${target.url}: ${detail}`);
  }
}

export type BalancerApp = Hono & { readonly balancer: Balancer };

export function createBalancer(config: Config, platform: Platform): BalancerApp {
  const balancer = new Balancer(config, platform);
  const app = new Hono();
  app.onError((error) => {
    // Never show a client a stack trace; the operator gets it in the log.
    platform.log(`internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return internalError();
  });
  app.get(config.admin.healthPath, healthRoute(balancer));
  app.all("*", proxyRoute(balancer));
  return Object.assign(app, { balancer });
}
