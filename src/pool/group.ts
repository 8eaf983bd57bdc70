/**
 * A target group as one config has it: its targets (from the pool, so they
 * carry their state over from the config before), a health table over them,
 * one strategy over the primaries and one over the backups, its stickiness
 * and timeouts. Built while the previous config still serves (only the
 * stickiness keys need waiting for), then activated in the same synchronous
 * step that makes its config current: the table adopts the targets' health
 * records and the targets are bound to it.
 */
import type { Context } from "hono";
import type { TargetGroupConfig } from "../config/schema.ts";
import { HealthTable } from "../health/table.ts";
import type { GroupMetrics, Metrics } from "../metrics/registry.ts";
import type { Platform } from "../platform.ts";
import { createStickiness, type Stickiness } from "../sticky/affinity.ts";
import type { TargetPool } from "./pool.ts";
import { keyExtractor, type KeyOf } from "./request-key.ts";
import type { PoolTarget } from "./target.ts";
import { Tier } from "./tier.ts";
import type { FailoverState } from "./failover.ts";
import type { SlotQueue } from "./slot-queue.ts";

export class TargetGroup {
  /** Config order (primaries and backups alike): the health table's and the sticky cookie's index. */
  readonly targets: readonly PoolTarget[];
  readonly keyOf: KeyOf;
  readonly connectTimeoutMs: number;
  readonly responseTimeoutMs: number;
  /** Longest wait for the next bytes of a streamed response body (nginx `proxy_read_timeout` between reads). */
  readonly readTimeoutMs: number;
  /** Sticky sessions, when configured (key import is async: crypto.subtle); undefined when the secret failed. */
  readonly stickiness: Promise<Stickiness | undefined> | undefined;
  /** The resolved `stickiness`, once its key is imported (null: it failed), so requests need not await it. */
  stickinessReady: Stickiness | null | undefined = undefined;
  /** Why stickiness could not start (servers refuse to start; Workers log it and serve without). */
  stickinessFailure: Error | undefined;
  readonly metrics: GroupMetrics;
  /** Told each failover and failback (the balancer records them in the change log). */
  onFailover: ((down: boolean, why: string) => void) | undefined = undefined;
  /** Retry attempts waiting on a target now, for the retry budget (`retries.budgetPercent`). */
  retriesInFlight = 0;
  /** Present with `fallbackGroup`: whether the group's traffic goes there now (failover.ts). */
  private readonly failover: FailoverState | undefined;
  /** Each target's `maxConnections` in config order (Infinity: none); absent when no target has one. */
  private readonly limits: readonly number[] | undefined;
  /** Present with `maxConnections` and `queue`: where requests wait for a slot (slot-queue.ts). */
  private readonly queue: SlotQueue | undefined;
  private readonly pool: TargetPool;
  private active: { readonly health: HealthTable; readonly primary: Tier; readonly backup: Tier } | undefined;

  constructor(
    readonly name: string,
    readonly config: TargetGroupConfig,
    pool: TargetPool,
    private readonly platform: Pick<Platform, "now" | "random" | "env" | "log" | "timer">,
    metrics: Pick<Metrics, "group">,
    /** `stickiness: false`: for a group that only probes (no cookies to sign or check). */
    options: { readonly stickiness?: boolean } = {},
  ) {
    this.targets = config.targets.map((t) => pool.target(name, t.url));
    this.metrics = metrics.group(name);
    this.failover = config.fallbackGroup === undefined ? undefined : pool.failover(name);
    if (this.failover) this.metrics.failedOver = this.failover.down ? 1 : 0;
    const limits = config.targets.map((t) => t.maxConnections ?? config.maxConnections ?? Number.POSITIVE_INFINITY);
    this.limits = limits.some(Number.isFinite) ? limits : undefined;
    this.queue = this.limits && config.queue ? pool.queue(name, config.queue.size, config.queue.timeout * 1000, platform.timer) : undefined;
    this.pool = pool;
    this.keyOf = keyExtractor(config.strategy, config.hashKey);
    this.connectTimeoutMs = config.timeouts.connect * 1000;
    this.responseTimeoutMs = config.timeouts.response * 1000;
    this.readTimeoutMs = (config.timeouts.read ?? config.timeouts.response) * 1000;
    this.stickiness = config.stickiness && options.stickiness !== false
      ? createStickiness(config.stickiness, this.targets, platform.env).then(
        (s) => (this.stickinessReady = s),
        (e: Error) => {
          this.stickinessFailure = e;
          this.stickinessReady = null;
          platform.log(`target group ${name}: stickiness disabled: ${e.message}`);
          return undefined;
        },
      )
      : undefined;
  }

  /**
   * May one more retry start now? Envoy's retry budget: retries in flight stay under
   * `budgetPercent` of the group's requests in flight, or `minRetryConcurrency`, whichever is more.
   */
  retryBudgetAllows(): boolean {
    const r = this.config.retries;
    if (r.budgetPercent <= 0) return true;
    return this.retriesInFlight < Math.max(r.minRetryConcurrency, Math.floor((this.metrics.active * r.budgetPercent) / 100));
  }

  /**
   * No target could take a request because those that are up are at their `maxConnections`:
   * wait in the group's queue for one (nginx Plus `queue`). `pick` chooses as a first attempt
   * would. Resolves undefined when the group has no queue, none of its targets is at its limit
   * (they are down: waiting would not help), the queue is full, the wait times out, or the
   * client leaves; the caller answers 503.
   */
  async waitForTarget(pick: () => PoolTarget | undefined, signal: AbortSignal): Promise<PoolTarget | undefined> {
    const q = this.queue;
    const a = this.active;
    // Requests already waiting go first: a new one queues behind them (first come, first served).
    if (a === undefined || !(a.primary.saturated || a.backup.saturated || this.waiting)) return undefined;
    const m = this.metrics;
    if (q === undefined || !q.hasRoom) {
      m.queueRejected.full++;
      return undefined;
    }
    const now = this.platform.now;
    const deadline = now() + q.timeoutMs;
    m.queued++;
    try {
      for (let front = false;; front = true) {
        if (!(await q.wait(now(), deadline, signal, front))) break;
        const target = pick();
        if (target !== undefined) {
          q.wakeNextSoon();
          return target;
        }
      }
    } finally {
      m.queued--;
    }
    if (!signal.aborted) m.queueRejected.timeout++;
    return undefined;
  }

  /** Requests wait in this group's queue now: a new request waits behind them. */
  get waiting(): boolean {
    return this.queue !== undefined && this.queue.length > 0;
  }

  /**
   * The group this one's traffic goes to now: its `fallbackGroup` while fewer than `minHealthy`
   * of its targets are available (and until they have been for `failbackDelay`), else undefined.
   */
  failingOverTo(now: number): string | undefined {
    const f = this.failover;
    if (f === undefined) return undefined;
    const c = this.config;
    // Targets that can take a new request: healthy, not draining, and with a weight (0 takes none).
    let available = 0;
    for (let i = 0; i < this.targets.length; i++) if (this.targets[i]!.weight > 0 && this.health.available(i, now)) available++;
    const down = f.failedOver(available, c.minHealthy, c.failbackDelay * 1000, now, (down) => {
      this.metrics.failedOver = down ? 1 : 0;
      const why = down
        ? `${available} of ${this.targets.length} target(s) available, fewer than minHealthy ${c.minHealthy}`
        : `${available} target(s) available for ${c.failbackDelay}s`;
      this.platform.log(`failover: group ${this.name}: ${why}; its traffic ${down ? "goes to" : "is back from"} ${c.fallbackGroup}`);
      this.onFailover?.(down, why);
    });
    return down ? c.fallbackGroup : undefined;
  }

  /** The health table; throws before activation (nothing on the request path runs before it). */
  get health(): HealthTable {
    if (!this.active) throw new Error(`target group ${this.name} is not active`);
    return this.active.health;
  }

  /**
   * Make this group the one its targets answer to. `fresh`: the balancer is
   * starting, so targets never ramp up (HAProxy: no slow start at process
   * start); otherwise a target the config adds starts its slow start.
   */
  activate(fresh: boolean): void {
    const now = this.platform.now();
    const config = this.config;
    const added = this.targets.map((t) => t.health === undefined);
    const health = new HealthTable({ targets: config.targets.map((t, i) => ({ backup: t.backup, record: this.targets[i]!.health })), settings: config, now });
    const previous = new Map(this.targets.flatMap((t) => (t.binding ? [[t, { tier: t.binding.tier as Tier, tierIndex: t.binding.tierIndex }] as const] : [])));
    const tiers = { primary: [] as number[], backup: [] as number[] };
    config.targets.forEach((c, i) => {
      const t = this.targets[i]!;
      t.health = health.record(i);
      t.weight = c.weight;
      tiers[c.backup ? "backup" : "primary"].push(i);
    });
    // nginx: a failure lowers the smooth-WRR effective weight by weight / max_fails.
    const options = { ...config, maxFails: config.passive.maxFails };
    const limits = this.limits;
    const queue = this.queue;
    // A config without a queue ends the one before it: its requests get 503 now rather than at their timeout.
    if (queue === undefined) this.pool.dropQueue(this.name);
    const tier = (kind: "primary" | "backup") =>
      new Tier(
        tiers[kind].map((i) => this.targets[i]!),
        tiers[kind],
        {
          strategy: config.strategy,
          options,
          health,
          platform: this.platform,
          tier: kind,
          ...(limits && { limits: tiers[kind].map((i) => limits[i]!) }),
          ...(queue && { freed: () => queue.wake() }),
        },
        previous,
      );
    const primary = tier("primary");
    const backup = tier("backup");
    this.active = { health, primary, backup };
    for (const [kind, t] of [["primary", primary], ["backup", backup]] as const) {
      t.targets.forEach((target, tierIndex) => {
        const index = tiers[kind][tierIndex]!;
        target.binding = { table: health, index, tier: t, tierIndex, backup: kind === "backup", configWeight: config.targets[index]!.weight };
        target.onIdle = undefined;
      });
    }
    // Drains the config asks for; one it no longer asks for ends (the store's own are applied after).
    config.targets.forEach((c, i) => {
      const t = this.targets[i]!;
      if (c.drain && !t.health!.draining) {
        health.setDraining(i, now + config.deregistrationDelay * 1000, now);
        t.drainedBy = "config";
      } else if (!c.drain && t.drainedBy === "config") {
        health.setDraining(i, undefined, now);
        t.drainedBy = undefined;
      }
      if (added[i] && !fresh) health.beginSlowStart(i, now);
    });
  }

  /**
   * May this sticky client's target take its request? Healthy targets yes; a
   * draining one keeps its existing sticky clients until its deadline
   * (ALB deregistration delay; the gap in haproxy#2894), then they move.
   */
  canTake(target: PoolTarget, now = this.platform.now()): boolean {
    const b = target.binding;
    if (b === undefined || b.table !== this.active?.health) return false;
    // A sticky client's target at its limit is like a down one: another takes the request (nginx max_conns bounds every request).
    const limit = this.limits?.[b.index];
    if (limit !== undefined && target.inflight + target.elsewhere >= limit) return false;
    if (b.table.available(b.index, now)) return target.weight > 0;
    const deadline = target.drainDeadline();
    return deadline !== undefined && now < deadline && b.table.healthyIgnoringDrain(b.index, now);
  }

  /** The target's index in this group's config order (the sticky cookie's), or -1. */
  indexOf(target: PoolTarget): number {
    const b = target.binding;
    return b !== undefined && b.table === this.active?.health ? b.index : this.targets.indexOf(target);
  }

  /** Choose a target for this request, skipping those already tried. */
  select(c: Context, clientIp: string | undefined, tried: ReadonlySet<PoolTarget>, now = this.platform.now()): PoolTarget | undefined {
    const key = this.keyOf(c, clientIp);
    const { primary, backup } = this.active!;
    return primary.pick(key, tried, now) ?? backup.pick(key, tried, now);
  }

  /**
   * Apply runtime weight overrides by target URL (absent = the config's
   * weight). Rebuilds the strategies only when a weight actually changed.
   */
  applyWeights(overrides: Readonly<Record<string, number>>): boolean {
    let changed = false;
    this.config.targets.forEach((c, i) => {
      const t = this.targets[i]!;
      const o = Object.hasOwn(overrides, t.url) ? overrides[t.url] : undefined;
      // A store is shared with other tools and versions: only a weight the config could hold counts.
      const w = typeof o === "number" && Number.isInteger(o) && o >= 0 && o <= 1000 ? o : c.weight;
      if (w !== t.weight) {
        t.weight = w;
        changed = true;
      }
    });
    if (!changed || !this.active) return changed;
    this.active.primary.rebuild();
    this.active.backup.rebuild();
    return true;
  }
}
