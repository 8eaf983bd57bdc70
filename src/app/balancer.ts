/**
 * The balancer as it lives across configs: the platform, the metrics, the
 * target pool, the shared state store and its overrides, the open
 * WebSockets, and the current generation (generation.ts), swapped whole by
 * `reload`. Runtime adapters (src/runtimes/) build it with `createBalancer`
 * and serve its listener apps (listener.ts); nothing here knows which
 * runtime it runs on.
 */
import type { Hono } from "hono";
import type { Config } from "../config/schema.ts";
import type { HealthChecks } from "../health/checks.ts";
import { createMetrics, type Metrics } from "../metrics/registry.ts";
import type { Platform } from "../platform.ts";
import type { TargetGroup } from "../pool/group.ts";
import { TargetOverrides } from "../pool/overrides.ts";
import { TargetPool } from "../pool/pool.ts";
import { errorDetail } from "../proxy/errors.ts";
import { OpenWebSockets, SERVICE_RESTART } from "../proxy/websocket-registry.ts";
import { SnapshotCache } from "../state/cache.ts";
import { MemoryStateStore } from "../state/memory.ts";
import type { Snapshot, StateStore } from "../state/store.ts";
import { actionOverridesOf, type Control, createControl } from "./control.ts";
import { type ActionOverrides, buildGeneration, type Generation, withActions } from "./generation.ts";
import { healthView } from "./health-view.ts";
import { listenerApps } from "./listener.ts";
import { healthChecksFor } from "./probing.ts";

export class Balancer {
  readonly metrics: Metrics;
  readonly pool: TargetPool;
  /** Every relay open on this balancer (graceful shutdown closes them). */
  readonly sockets = new OpenWebSockets();
  /** Where runtime overrides persist (blue/green, canary weights, drains): in memory unless the platform shares one. */
  readonly state: StateStore;
  /** The newest snapshot seen (pushed by the store, polled every cacheTtl by the health checks). */
  readonly snapshots: SnapshotCache;
  /** Set by the adapter when a shutdown starts; the health endpoint turns 503. */
  shuttingDown = false;
  /** One Hono app per listener of the first config, in config order (adapters serve listener i with listenerApps[i]). */
  readonly listenerApps: readonly Hono[];
  /** Blue/green and canary changes, drains and weights, through the state store (control.ts). */
  readonly control: Control;

  private gen: Generation;
  private checks: HealthChecks;
  private checking = false;
  private actions: ActionOverrides = new Map();
  private readonly overrides: TargetOverrides;
  private readonly instanceId = crypto.randomUUID();

  constructor(
    config: Config,
    readonly platform: Platform,
  ) {
    this.metrics = createMetrics({ now: platform.now });
    this.pool = new TargetPool(this.metrics);
    this.state = platform.state ?? new MemoryStateStore();
    this.snapshots = new SnapshotCache(this.state, (error) => platform.log(`state: applying a snapshot failed: ${errorDetail(error)}`));
    this.overrides = new TargetOverrides(platform, (target) => {
      const closed = target.closeSockets(SERVICE_RESTART, "target draining");
      if (closed > 0) platform.log(`drain: group=${target.group} target=${target.url}: deadline reached, ${closed} WebSocket(s) closed with 1012`);
    });
    this.gen = buildGeneration(config, this, this.actions);
    for (const g of this.gen.groups.values()) g.activate(true);
    this.checks = this.healthChecksFor(this.gen);
    this.snapshots.onChange((snapshot) => this.applySnapshot(snapshot));
    this.control = createControl(this);
    this.listenerApps = listenerApps(this, config);
  }

  /** The generation serving now. */
  get current(): Generation {
    return this.gen;
  }

  get config(): Config {
    return this.gen.config;
  }

  /** Active health checks of the current config (started by server adapters; run from requests and cron on Workers). */
  get healthChecks(): HealthChecks {
    return this.checks;
  }

  group(name: string): TargetGroup {
    return this.gen.group(name);
  }

  /** Every group and target as the stats page and gauges show them. */
  readonly healthProvider = () => healthView(this.gen.groups.values(), this.checks, this.platform.now);

  /** Resolves when start-up work is done (sticky cookie keys imported); rejects on a bad secret. */
  async ready(): Promise<void> {
    await readyGroups(this.gen);
    await this.snapshots.refresh();
  }

  /**
   * Serve `config` from now on, keeping what the pool knows of every target
   * it still lists: build its generation while the current one serves, wait
   * for its stickiness keys, then swap in one synchronous step. Throws, and
   * changes nothing, when the new config's stickiness cannot start.
   */
  async reload(config: Config): Promise<void> {
    const next = buildGeneration(config, this, this.actions);
    await readyGroups(next);
    this.swap(next);
  }

  /** Start the health checks (servers; Workers run them from requests and the cron trigger instead). */
  startHealthChecks(): void {
    this.checking = true;
    this.checks.start();
  }

  stopHealthChecks(): void {
    this.checking = false;
    this.checks.stop();
  }

  private swap(next: Generation): void {
    const before = this.gen;
    this.gen = next;
    for (const g of next.groups.values()) g.activate(false);
    const listed = new Set([...next.groups.values()].flatMap((g) => g.targets));
    const retired = this.pool.retireAllBut(listed);
    this.checks.close();
    this.checks = this.healthChecksFor(next);
    if (this.checking) this.checks.start();
    const latest = this.snapshots.get();
    if (latest) this.overrides.apply(latest, next.groups.values());
    const added = [...listed].filter((t) => ![...before.groups.values()].some((g) => g.targets.includes(t)));
    this.platform.log(
      `config: now serving ${next.groups.size} group(s); ${added.length} target(s) added, ${retired.length} removed (they finish what runs on them)`,
    );
  }

  private healthChecksFor(gen: Generation): HealthChecks {
    return healthChecksFor(gen.config, gen.groups.values(), this.platform, this.state, this.snapshots, this.instanceId);
  }

  /** A snapshot from the store (written by this or another instance): rule actions, weights and drains. */
  private applySnapshot(snapshot: Snapshot): void {
    const actions = actionOverridesOf(snapshot, (line) => this.platform.log(line));
    if (!sameActions(actions, this.actions)) {
      this.actions = actions;
      this.gen = withActions(this.gen, actions);
    }
    this.overrides.apply(snapshot, this.gen.groups.values());
  }
}

/** The groups' stickiness keys imported; a bad secret is a start-up error naming its field. */
async function readyGroups(gen: Generation): Promise<void> {
  await Promise.all([...gen.groups.values()].map((g) => g.stickiness));
  const failed = [...gen.groups.values()].find((g) => g.stickinessFailure);
  if (failed) throw new Error(`targetGroups.${failed.name}.stickiness: ${failed.stickinessFailure!.message}`);
}

function sameActions(a: ActionOverrides, b: ActionOverrides): boolean {
  return a.size === b.size && [...a].every(([k, action]) => JSON.stringify(b.get(k)) === JSON.stringify(action));
}

export type BalancerApp = Hono & { readonly balancer: Balancer };

export function createBalancer(config: Config, platform: Platform): BalancerApp {
  const balancer = new Balancer(config, platform);
  return Object.assign(balancer.listenerApps[0]!, { balancer });
}
