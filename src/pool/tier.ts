/**
 * One strategy over one tier of a group's targets: the primaries, or the
 * backups (nginx's two lists; backups are used only when no primary can be
 * picked). The strategy is built for a target set and weights and swapped
 * whole when they change (Pingora rebuilds its selector on every change of
 * the backend set); what it learnt and the requests in flight are handed to
 * the successor. It sees health only through the PickContext below.
 */
import { createStrategy, type PickContext, type Strategy, type StrategyName } from "../../strategies/index.ts";
import type { StrategyOptionsInput } from "../../strategies/options.ts";
import type { HealthTable } from "../health/table.ts";
import type { Platform } from "../platform.ts";
import type { PoolTarget, TierSlot } from "./target.ts";

/** The per-request view a strategy sees. One per tier, reused: `pick` is synchronous. */
class TierContext implements PickContext {
  key: string | undefined = undefined;
  nowMs = 0;
  /** The tier calls strategy.inflightChanged on every begin and end. */
  readonly notifiesInflight = true;
  triedTargets: ReadonlySet<PoolTarget> = new Set();
  /** Mirrors of the targets' in-flight counts, so strategies can read them without a call per target. */
  readonly inflights: Int32Array;
  total = 0;
  /** Targets at their `maxConnections` now (kept by `Tier.counted`). */
  full = 0;
  constructor(
    private readonly targets: readonly PoolTarget[],
    /** Tier index -> index in the group's health table. */
    private readonly rows: Int32Array,
    private readonly random_: () => number,
    private readonly health: HealthTable,
    private readonly tier: "primary" | "backup",
    /** Each target's `maxConnections`, by tier index; absent when the group sets none. */
    readonly limits: Float64Array | undefined,
  ) {
    this.inflights = new Int32Array(targets.length);
  }
  /** O(1) hint: nothing tried, everything available at full weight (strategies may take exact fast paths). */
  allEligible(): boolean {
    return this.triedTargets.size === 0 && this.full === 0 && this.health.allEligible(this.nowMs, this.tier);
  }
  weightFactor(i: number): number {
    return this.health.weightFactor(this.rows[i]!, this.nowMs);
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
    const l = this.limits;
    // The target's own count, not the mirror: a request queued through a reload picks from the tier it started with.
    return this.health.available(this.rows[i]!, this.nowMs) && (l === undefined || this.inflight(i) < l[i]!);
  }
  inflight(i: number): number {
    const t = this.targets[i]!;
    return t.inflight + t.elsewhere;
  }
  now(): number {
    return this.nowMs;
  }
  random(): number {
    return this.random_();
  }
}

export interface TierOptions {
  readonly strategy: StrategyName;
  readonly options: StrategyOptionsInput;
  readonly health: HealthTable;
  readonly platform: Pick<Platform, "now" | "random">;
  readonly tier: "primary" | "backup";
  /**
   * Each target's `maxConnections`, by tier index (nginx `max_conns`): a target with that many
   * requests in flight on the host is not picked. Absent: no limits.
   */
  readonly limits?: readonly number[];
  /** A target at its limit finished a request: a queued one may have its slot (slot-queue.ts). */
  readonly freed?: () => void;
}

export class Tier implements TierSlot {
  strategy: Strategy;
  private readonly ctx: TierContext;

  constructor(
    readonly targets: readonly PoolTarget[],
    /** Each target's index in the group's health table. */
    rows: readonly number[],
    private readonly o: TierOptions,
    /** The tiers the targets were in before (another config's): what their strategies learnt carries over. */
    previous: ReadonlyMap<PoolTarget, { tier: Tier; tierIndex: number }>,
  ) {
    this.ctx = new TierContext(targets, Int32Array.from(rows), o.platform.random, o.health, o.tier, o.limits && Float64Array.from(o.limits));
    this.strategy = this.build((t) => {
      const was = previous.get(t);
      return was && was.tier.o.strategy === o.strategy ? was.tier.strategy.exportLearned?.(was.tierIndex) : undefined;
    });
  }

  /**
   * A new strategy for the current weights, with what each target has taught
   * and the requests in flight replayed into it, so that least-connections
   * style strategies keep counting them.
   */
  private build(learnt: (t: PoolTarget, i: number) => unknown): Strategy {
    const next = createStrategy(
      this.o.strategy,
      this.targets.map((t) => ({ id: t.url, weight: t.weight })),
      this.o.options,
    );
    this.targets.forEach((t, i) => {
      const l = learnt(t, i);
      if (l !== undefined) next.importLearned?.(i, l);
      const n = t.inflight + t.elsewhere;
      this.ctx.inflights[i] = n;
      if (n > 0) next.inflightChanged?.(i, n);
    });
    this.ctx.total = this.targets.reduce((n, t) => n + t.inflight + t.elsewhere, 0);
    const l = this.ctx.limits;
    if (l !== undefined) this.ctx.full = this.targets.reduce((n, _t, i) => n + (this.ctx.inflights[i]! >= l[i]! ? 1 : 0), 0);
    return next;
  }

  /** The targets' weights changed (a runtime override): build a new strategy and swap it in one assignment. */
  rebuild(): void {
    const before = this.strategy;
    this.strategy = this.build((_t, i) => before.exportLearned?.(i));
  }

  counted(tierIndex: number, inflight: number, delta: number): void {
    const ctx = this.ctx;
    ctx.inflights[tierIndex] = inflight;
    ctx.total += delta;
    this.strategy.inflightChanged?.(tierIndex, inflight);
    const l = ctx.limits;
    if (l === undefined) return;
    const limit = l[tierIndex]!;
    const was = inflight - delta >= limit;
    const is = inflight >= limit;
    if (was === is) return;
    ctx.full += is ? 1 : -1;
    if (!is) this.o.freed?.();
  }

  /** Some target of this tier is at its `maxConnections`. */
  get saturated(): boolean {
    return this.ctx.full > 0;
  }

  report(tierIndex: number, ok: boolean, latencyMs: number): void {
    this.strategy.report?.(tierIndex, { ok, latencyMs, now: this.o.platform.now() });
  }

  pick(key: string | undefined, tried: ReadonlySet<PoolTarget>, now: number): PoolTarget | undefined {
    if (this.targets.length === 0) return undefined;
    this.ctx.key = key;
    this.ctx.triedTargets = tried;
    this.ctx.nowMs = now;
    const i = this.strategy.pick(this.ctx);
    return i < 0 ? undefined : this.targets[i];
  }
}
