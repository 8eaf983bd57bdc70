/**
 * A target group at run time: its targets with their live counters, and the
 * strategies built over them (one over the primaries, one over the backups,
 * nginx's two lists). Selection walks primaries first and falls back to
 * backups only when no primary can take the request. Health, stickiness and
 * retries stay outside the strategies and reach them through PickContext.
 */
import type { Context } from "hono";
import { createStrategy } from "../strategies/index.ts";
import type { PickContext, Strategy } from "../strategies/types.ts";
import type { TargetGroupConfig } from "./config/schema.ts";
import type { Platform } from "./platform.ts";
import { keyExtractor, type KeyOf } from "./request-key.ts";
import { createStickiness, type Stickiness } from "./sticky/affinity.ts";
import { HealthTable } from "./health/table.ts";
import type { GroupMetrics, Metrics, TargetMetrics } from "./metrics/registry.ts";

export class Target {
  /** Requests in flight at this target right now (counted by the balancer). */
  inflight = 0;
  readonly origin: string;
  readonly host: string;
  /** Position in its tier (primaries or backups): the index its strategy knows it by. */
  tierIndex = -1;
  /** Pre-resolved metric handles (no label building per request). */
  metrics!: TargetMetrics;
  /** Its last attempt failed at the transport level (errors are logged once per transition). */
  failing = false;
  tier: Tier | undefined;
  /** The weight in use: the config's, or a runtime override from the state store. */
  weight: number;
  constructor(
    readonly group: string,
    readonly index: number,
    readonly url: string,
    readonly configWeight: number,
    readonly backup: boolean,
  ) {
    this.weight = configWeight;
    const u = new URL(url);
    this.origin = u.origin;
    this.host = u.host;
  }

  /** A request (or WebSocket) starts at this target. */
  begin(): void {
    this.inflight++;
    this.tier?.counted(this, 1);
  }

  /** ...and ends. */
  end(): void {
    this.inflight--;
    this.tier?.counted(this, -1);
  }
}

/** The per-request view a strategy sees. One per tier, reused: `pick` is synchronous. */
class TierContext implements PickContext {
  key: string | undefined = undefined;
  nowMs = 0;
  /** The tier calls strategy.inflightChanged on every begin and end. */
  readonly notifiesInflight = true;
  triedTargets: ReadonlySet<Target> = new Set();
  /** Mirrors of the targets' in-flight counts, so strategies can read them without a call per target. */
  readonly inflights: Int32Array;
  total = 0;
  constructor(
    private readonly targets: readonly Target[],
    private readonly platform: Platform,
    private readonly health: HealthTable,
    private readonly tier: "primary" | "backup",
  ) {
    this.inflights = new Int32Array(targets.length);
  }
  /** O(1) hint: nothing tried, everything available at full weight (strategies may take exact fast paths). */
  allEligible(): boolean {
    return this.triedTargets.size === 0 && this.health.allEligible(this.nowMs, this.tier);
  }
  weightFactor(i: number): number {
    return this.health.weightFactor(this.targets[i]!.index, this.nowMs);
  }
  totalInflight(): number {
    return this.total;
  }
  inflightArray(): ArrayLike<number> {
    return this.inflights;
  }
  tried(i: number): boolean {
    return this.triedTargets.size !== 0 && this.triedTargets.has(this.targets[i]!);
  }
  available(i: number): boolean {
    return this.health.available(this.targets[i]!.index, this.nowMs);
  }
  inflight(i: number): number {
    return this.targets[i]!.inflight;
  }
  now(): number {
    return this.nowMs;
  }
  random(): number {
    return this.platform.random();
  }
}

export class Tier {
  strategy: Strategy;
  private readonly ctx: TierContext;
  constructor(
    readonly targets: readonly Target[],
    private readonly config: TargetGroupConfig,
    platform: Platform,
    health: HealthTable,
    tier: "primary" | "backup",
  ) {
    targets.forEach((t, i) => {
      t.tierIndex = i;
      t.tier = this;
    });
    this.strategy = this.build();
    this.ctx = new TierContext(targets, platform, health, tier);
  }

  private build(): Strategy {
    // nginx: a failure lowers the smooth-WRR effective weight by weight / max_fails.
    return createStrategy(this.config.strategy, this.targets.map((t) => ({ id: t.url, weight: t.weight })), { ...this.config, maxFails: this.config.passive.maxFails });
  }

  /**
   * The targets' weights changed (a runtime override): build a new strategy and
   * swap it in one assignment, as Pingora rebuilds its selector when the
   * backend set changes. Requests in flight are replayed into it so that
   * least-connections style strategies keep counting them.
   */
  rebuild(): void {
    const next = this.build();
    this.targets.forEach((t, i) => t.inflight > 0 && next.inflightChanged?.(i, t.inflight));
    this.strategy = next;
  }
  counted(target: Target, delta: number): void {
    this.ctx.inflights[target.tierIndex] = target.inflight;
    this.ctx.total += delta;
    this.strategy.inflightChanged?.(target.tierIndex, target.inflight);
  }
  pick(key: string | undefined, tried: ReadonlySet<Target>, now: number): Target | undefined {
    if (this.targets.length === 0) return undefined;
    this.ctx.key = key;
    this.ctx.triedTargets = tried;
    this.ctx.nowMs = now;
    const i = this.strategy.pick(this.ctx);
    return i < 0 ? undefined : this.targets[i];
  }
}

export class TargetGroup {
  readonly targets: readonly Target[];
  private readonly primary: Tier;
  private readonly backup: Tier;
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
  /** Passive and active health of the targets, apart from the strategies (Pingora's health table). */
  readonly health: HealthTable;
  readonly metrics: GroupMetrics;

  constructor(
    readonly name: string,
    readonly config: TargetGroupConfig,
    private readonly platform: Platform,
    metrics: Metrics,
  ) {
    this.targets = config.targets.map((t, i) => new Target(name, i, t.url, t.weight, t.backup));
    this.metrics = metrics.group(name);
    for (const t of this.targets) t.metrics = metrics.target(name, t.url);
    const now = platform.now();
    this.health = new HealthTable({ targets: config.targets, settings: config, now });
    config.targets.forEach((t, i) => t.drain && this.health.setDraining(i, now + config.deregistrationDelay * 1000, now));
    this.primary = new Tier(this.targets.filter((t) => !t.backup), config, platform, this.health, "primary");
    this.backup = new Tier(this.targets.filter((t) => t.backup), config, platform, this.health, "backup");
    this.keyOf = keyExtractor(config.strategy, config.hashKey);
    this.connectTimeoutMs = config.timeouts.connect * 1000;
    this.responseTimeoutMs = config.timeouts.response * 1000;
    this.readTimeoutMs = (config.timeouts.read ?? config.timeouts.response) * 1000;
    this.stickiness = config.stickiness
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
   * May this sticky client's target take its request? Healthy targets yes; a
   * draining one keeps its existing sticky clients until its deadline
   * (ALB deregistration delay; the gap in haproxy#2894), then they move.
   */
  canTake(target: Target, now = this.platform.now()): boolean {
    if (this.health.available(target.index, now)) return target.weight > 0;
    const deadline = this.health.drainDeadline(target.index);
    return deadline !== undefined && now < deadline && this.health.healthyIgnoringDrain(target.index, now);
  }

  /** Choose a target for this request, skipping those already tried. */
  select(c: Context, clientIp: string | undefined, tried: ReadonlySet<Target>, now = this.platform.now()): Target | undefined {
    const key = this.keyOf(c, clientIp);
    return this.primary.pick(key, tried, now) ?? this.backup.pick(key, tried, now);
  }

  /**
   * Apply runtime weight overrides by target URL (absent = the config's
   * weight). Rebuilds the strategies only when a weight actually changed.
   */
  applyWeights(overrides: Readonly<Record<string, number>>): boolean {
    let changed = false;
    for (const t of this.targets) {
      const o = overrides[t.url];
      // A store is shared with other tools and versions: only a weight the config could hold counts.
      const w = typeof o === "number" && Number.isInteger(o) && o >= 0 && o <= 1000 ? o : t.configWeight;
      if (w !== t.weight) {
        t.weight = w;
        changed = true;
      }
    }
    if (!changed) return false;
    this.primary.rebuild();
    this.backup.rebuild();
    return true;
  }

  /** Feed one attempt's outcome back to the strategy (smooth WRR failure weight, latency EWMA). */
  report(target: Target, ok: boolean, latencyMs: number): void {
    target.tier?.strategy.report?.(target.tierIndex, { ok, latencyMs, now: this.platform.now() });
  }
}
