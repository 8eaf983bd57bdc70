/**
 * `createBalancer(config, platform)`: the whole balancer as one Hono app on
 * web-standard APIs. Runtime adapters (src/runtimes/) build the platform and
 * serve `app.fetch`; nothing here knows which runtime it runs on.
 */
import { Hono, type Context } from "hono";
import { listenersOf, type Config } from "./config/schema.ts";
import { cidrMatcher } from "./net/ip.ts";
import * as v from "valibot";
import { compileRules, type Router } from "./rules/compile.ts";
import { ActionSchema, type ActionConfig } from "./rules/schema.ts";
import { MemoryStateStore } from "./state/memory.ts";
import type { Snapshot, StateStore } from "./state/store.ts";
import { SnapshotCache } from "./state/cache.ts";
import { groupDraft } from "./state/store.ts";
import { TargetOverrides } from "./state/target-overrides.ts";
import { openWebSockets, SERVICE_RESTART } from "./proxy/websocket-registry.ts";
import type { Platform, UpstreamFailure } from "./platform.ts";
import { errorDetail, internalError } from "./proxy/errors.ts";
import { TargetGroup, type Target } from "./target-group.ts";
import { HealthChecks } from "./health/checks.ts";
import { createAccessLog, type AccessLogger } from "./metrics/access-log.ts";
import type { HealthProvider } from "./metrics/health-provider.ts";
import { createMetrics, type Metrics, type RuleMetrics } from "./metrics/registry.ts";
import { statsRoutes } from "../routes/stats.ts";
import { healthRoute } from "../routes/health.ts";
import { proxyRoute } from "../routes/proxy.ts";
import { rejectAtEdge } from "./edge/request-guard.ts";
import { adminSpace, type AdminPaths } from "./edge/admin-space.ts";

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
    this.metrics = createMetrics({ now: platform.now });
    this.groups = new Map(Object.entries(config.targetGroups).map(([name, g]) => [name, new TargetGroup(name, g, platform, this.metrics)]));
    this.accessLog = createAccessLog(config.accessLog, { write: (line) => platform.log(line), random: platform.random });
    this.adminRoutes = statsRoutes({
      metrics: this.metrics,
      health: this.healthProvider,
      state: () => ({ store: config.state.store, reachable: this.healthChecks.storeReachable }),
      config: config.admin,
      env: platform.env,
    });
    this.isTrustedProxy = cidrMatcher(config.forwarding.trustedProxies);
    this.state = platform.state ?? new MemoryStateStore();
    this.stateView = new SnapshotCache(this.state, (error) => platform.log(`state: applying a snapshot failed: ${errorDetail(error)}`));
    this.targetOverrides = new TargetOverrides(this.groups, platform, (target) => {
      const closed = openWebSockets(this).closeTarget(target, SERVICE_RESTART, "target draining");
      if (closed > 0) platform.log(`drain: group=${target.group} target=${target.url}: deadline reached, ${closed} WebSocket(s) closed with 1012`);
    });
    this.stateView.onChange((snapshot) => {
      this.applyOverrides(snapshot);
      this.targetOverrides.apply(snapshot);
    });
    const shared = config.state.store === "memory" ? undefined : config.state;
    this.healthChecks = new HealthChecks(
      this.groups.values(),
      platform,
      shared && { store: this.state, cache: this.stateView, cacheTtlMs: shared.cacheTtl * 1000, instanceId: crypto.randomUUID(), what: `${shared.store} store` },
    );
  }

  /** Where runtime overrides persist (blue/green, canary weights): in memory unless the platform shares one. */
  readonly state: StateStore;
  private readonly targetOverrides: TargetOverrides;
  /** The newest snapshot seen (pushed by the store, polled every cacheTtl by the health checks). */
  readonly stateView: SnapshotCache;

  /** Active health checks (started by server adapters; run from requests and cron on Workers). */
  readonly healthChecks: HealthChecks;
  readonly metrics: Metrics;
  readonly accessLog: AccessLogger | undefined;
  /** Stats page, status JSON and /metrics, mounted on every listener before the catch-all. */
  readonly adminRoutes: Hono;
  private readonly ruleHandles = new Map<number | undefined, RuleMetrics>();

  /** The metrics handle of a rule (by priority; undefined = default action), resolved once. */
  ruleMetrics(rule: number | undefined): RuleMetrics {
    let h = this.ruleHandles.get(rule);
    if (!h) this.ruleHandles.set(rule, (h = this.metrics.rule(rule === undefined ? "default" : String(rule))));
    return h;
  }

  /** The paths the balancer answers itself; no other spelling of them is forwarded (edge/admin-space.ts). */
  get adminPaths(): AdminPaths {
    const { healthPath, stats, metrics } = this.config.admin;
    const statsPath = stats && (stats.path === "/" ? "" : stats.path);
    return {
      exact: [healthPath, ...(stats ? [stats.path, `${statsPath}/status.json`] : []), ...(metrics ? [metrics.path] : [])],
      subtrees: stats && stats.path !== "/" ? [stats.path] : [],
    };
  }

  /** Every group and target as the stats page and gauges show them. */
  readonly healthProvider: HealthProvider = () => {
    const now = this.platform.now();
    const wall = Date.now();
    return [...this.groups.values()].map((g) => ({
      group: g.name,
      targets: g.targets.map((t) => {
        const s = g.health.status(t.index, now);
        const state = t.backup && s.state === "healthy" ? "backup" : s.state;
        const probe = s.lastProbe;
        return { url: t.url, state, weight: t.weight, inflight: t.inflight, lastCheck: probe && { ok: probe.ok, detail: probe.detail, at: wall - (now - probe.at) } };
      }),
      probing: this.healthChecks.probing(g),
    }));
  };

  /**
   * The client address rules and ip_hash see: the connected peer, or, when the
   * peer is a trusted proxy, the nearest untrusted address in X-Forwarded-For
   * (nginx realip with `real_ip_recursive on`).
   */
  clientIp(c: Context): { peer: string | undefined; client: string | undefined; trusted: boolean } {
    const peer = this.platform.clientAddress(c);
    const trusted = this.isTrustedProxy(peer);
    if (!trusted) return { peer, client: peer, trusted };
    const xff = c.req.raw.headers.get("x-forwarded-for");
    if (!xff) return { peer, client: peer, trusted };
    const hops = xff.split(",").map((h) => h.trim()).filter(Boolean);
    for (let i = hops.length - 1; i >= 0; i--) if (!this.isTrustedProxy(hops[i])) return { peer, client: hops[i], trusted };
    return { peer, client: hops[0] ?? peer, trusted };
  }

  /** The scheme the client used: the URL's, or a trusted proxy's X-Forwarded-Proto. */
  scheme(request: Request, trusted: boolean): "http" | "https" {
    if (trusted) {
      const p = request.headers.get("x-forwarded-proto")?.split(",")[0]?.trim().toLowerCase();
      if (p === "https" || p === "http") return p;
    }
    return request.url.startsWith("https:") ? "https" : "http";
  }

  group(name: string): TargetGroup {
    const g = this.groups.get(name);
    if (!g) throw new Error(`unknown target group ${name}`);
    return g;
  }

  /** Resolves when start-up work is done (sticky cookie keys imported); rejects on a bad secret. */
  async ready(): Promise<void> {
    await Promise.all([...this.groups.values()].map((g) => g.stickiness));
    const failed = [...this.groups.values()].find((g) => g.stickinessFailure);
    if (failed) throw new Error(`targetGroups.${failed.name}.stickiness: ${failed.stickinessFailure!.message}`);
    await this.stateView.refresh();
  }

  /** Take the action overrides of a snapshot (written by this or another instance). */
  private applyOverrides(snapshot: Snapshot): void {
    const next = new Map<number | "default", ActionConfig>();
    for (const [key, raw] of Object.entries(snapshot.actions)) {
      const parsed = v.safeParse(ActionSchema, raw);
      if (!parsed.success) {
        this.platform.log(`state: ignoring invalid action override for ${key}`);
        continue;
      }
      next.set(key === "default" ? "default" : Number(key), parsed.output);
    }
    const same = next.size === this.actionOverrides.size && [...next].every(([k, a]) => JSON.stringify(this.actionOverrides.get(k)) === JSON.stringify(a));
    if (same) return;
    this.actionOverrides = next;
    for (const cb of this.actionListeners) cb();
  }

  /** One Hono app per listener, in config order (adapters serve listener i with listenerApps[i]). */
  listenerApps: Hono[] = [];

  private actionOverrides = new Map<number | "default", ActionConfig>();
  private actionListeners: (() => void)[] = [];

  onActionsChanged(cb: () => void): void {
    this.actionListeners.push(cb);
  }

  effectiveRules() {
    return this.config.rules.map((r) => ({ ...r, action: this.actionOverrides.get(r.priority) ?? r.action }));
  }

  effectiveDefaultAction(): ActionConfig {
    return this.actionOverrides.get("default") ?? this.config.defaultAction;
  }

  /**
   * Blue/green and canary: replace the action of a rule (by priority) or of
   * the default, e.g. \`{ forward: "green" }\` or new canary weights. The
   * routers are recompiled and swapped in one assignment, so every request
   * sees either the old action or the new one, never a mix.
   */
  async setAction(rule: number | "default", input: unknown): Promise<void> {
    const parsed = v.safeParse(ActionSchema, input);
    if (!parsed.success) throw new Error(`invalid action: ${parsed.issues.map((i) => i.message).join("; ")}`);
    const action = parsed.output;
    const names = [...this.groups.keys()];
    const groupsOf = (a: ActionConfig): string[] =>
      a.forward === undefined ? [] : typeof a.forward === "string" ? [a.forward] : a.forward.targetGroups.map((g) => g.group);
    for (const g of groupsOf(action)) if (!this.groups.has(g)) throw new Error(`unknown target group ${JSON.stringify(g)}, expected one of ${names.join(", ")}`);
    if (rule !== "default" && !this.config.rules.some((r) => r.priority === rule)) throw new Error(`no rule with priority ${rule}`);
    // Persist first; the store's notification swaps the routers here (and on every instance sharing it).
    const written = await this.state.update((d) => {
      d.actions[String(rule)] = input as never;
    });
    this.stateView.offer(written);
  }

  /**
   * Drain one target (or stop draining it) on every instance sharing the
   * state store: no new requests or sessions; its sticky clients and open
   * WebSockets stay until the group's `deregistrationDelay`, then move (ALB
   * deregistration). Stopping a drain returns it to service with slow start.
   */
  async setTargetDrain(group: string, url: string, draining: boolean): Promise<void> {
    const g = this.targetOf(group, url).group;
    const deadline = Date.now() + g.config.deregistrationDelay * 1000;
    // The write's own snapshot applies here at once; no read back from the store.
    this.stateView.offer(
      await this.state.update((d) => {
        const rec = groupDraft(d, group);
        if (draining) rec.drains[url] = { deadline };
        else delete rec.drains[url];
      }),
    );
  }

  /** Override one target's weight (0 takes it out of rotation) on every instance; `undefined` restores the config's. */
  async setTargetWeight(group: string, url: string, weight: number | undefined): Promise<void> {
    this.targetOf(group, url);
    if (weight !== undefined && !(Number.isInteger(weight) && weight >= 0 && weight <= 1000)) throw new Error(`invalid weight ${weight}, expected an integer from 0 to 1000`);
    this.stateView.offer(
      await this.state.update((d) => {
        const rec = groupDraft(d, group);
        if (weight === undefined) delete rec.weights[url];
        else rec.weights[url] = weight;
      }),
    );
  }

  private targetOf(group: string, url: string): { group: TargetGroup; target: Target } {
    const g = this.groups.get(group);
    if (!g) throw new Error(`unknown target group ${JSON.stringify(group)}, expected one of ${[...this.groups.keys()].join(", ")}`);
    const target = g.targets.find((t) => t.url === url);
    if (!target) throw new Error(`no target ${JSON.stringify(url)} in group ${group}, expected one of ${g.targets.map((t) => t.url).join(", ")}`);
    return { group: g, target };
  }

  /**
   * Upstream errors are logged once per transition (first failure, then
   * recovery), never per request: a dead target under load would otherwise
   * flood the log. Counts per kind are in the metrics.
   */
  logUpstreamFailure(target: Target, kind: UpstreamFailure, error: unknown): void {
    if (target.failing) return;
    target.failing = true;
    const detail = error instanceof Error ? error.message : String(error);
    this.platform.log(`upstream ${kind} error: group=${target.group} target=${target.url}: ${detail} (logged once until it answers again)`);
  }

  logUpstreamAnswer(target: Target): void {
    if (!target.failing) return;
    target.failing = false;
    this.platform.log(`upstream answering again: group=${target.group} target=${target.url}`);
  }
}

export type BalancerApp = Hono & { readonly balancer: Balancer };

/**
 * The Hono app for one listener (its own default action, if it has one, e.g.
 * :80 redirecting to HTTPS). All listeners share one Balancer.
 */
function listenerApp(balancer: Balancer, defaultAction: ActionConfig): Hono {
  const { config, platform } = balancer;
  // Compiled once; swapped whole when an action changes (blue/green, canary weights).
  let router = compileRules(config.rules, defaultAction);
  balancer.onActionsChanged(() => (router = compileRules(balancer.effectiveRules(), defaultAction === config.defaultAction ? balancer.effectiveDefaultAction() : defaultAction)));
  const app = new Hono();
  const route = app.fetch;
  // Malformed requests are refused before any route sees them (edge/request-guard.ts).
  app.fetch = (request, env, ctx) => rejectAtEdge(request) ?? route(request, env, ctx);
  app.onError((error) => {
    // Never show a client a stack trace; the operator gets it in the log.
    platform.log(`internal error: ${errorDetail(error)}`);
    return internalError();
  });
  app.get(config.admin.healthPath, healthRoute(balancer));
  app.route("/", balancer.adminRoutes);
  app.all("*", proxyRoute(balancer, () => router, adminSpace(balancer.adminPaths)));
  return app;
}

export function createBalancer(config: Config, platform: Platform): BalancerApp {
  const balancer = new Balancer(config, platform);
  const apps = listenersOf(config).map((l) => listenerApp(balancer, l.defaultAction ?? config.defaultAction));
  balancer.listenerApps = apps;
  return Object.assign(apps[0]!, { balancer });
}
