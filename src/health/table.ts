/**
 * The health table of one target group: per-target state from active probes,
 * passive accounting (nginx), outlier ejection (Envoy), draining (ALB) and
 * slow start, kept apart from the balancing strategies the way Pingora keeps
 * its health table apart from its selectors and Caddy exposes `Available()`.
 * Strategies see it only through `available(i)` / `weightFactor(i)` and the
 * O(1) `allEligible()` hint.
 *
 * Indices are the group's config target order (primaries and backups alike).
 * Time is injected: every method takes the caller's monotonic `now` (ms).
 * Expiries (end of a fail window, an ejection, a slow-start ramp) are applied
 * lazily: the table remembers the earliest pending deadline and re-evaluates
 * every target only when a call passes it, so reads stay O(1) amortised.
 */
import { observeOutlier } from "./outlier.ts";
import { observePassive } from "./passive.ts";
import { observeProbe } from "./probe-thresholds.ts";
import { HealthTally } from "./tally.ts";
import type { HealthSettings } from "./schema.ts";
import { type AttemptResult, type ProbeResult, TargetHealth, type TargetState } from "./target-health.ts";

export type { AttemptResult, ProbeResult, TargetState } from "./target-health.ts";

export interface Transition {
  readonly index: number;
  readonly from: TargetState;
  readonly to: TargetState;
  /** Why, in a few words ("2 consecutive failed probes: 503", "ejection ended", ...). */
  readonly reason: string;
  readonly at: number;
  /**
   * Another instance's verdict (a shared probe result or passive hold),
   * applied here, or its end: that instance reports it (the change log
   * records each verdict once, where it was reached).
   */
  readonly shared: boolean;
}

/** Everything the stats page shows about one target. */
export interface TargetStatus {
  readonly state: TargetState;
  /** Would take new traffic now (panic included). */
  readonly available: boolean;
  /** When `state` last changed. */
  readonly since: number;
  readonly weightFactor: number;
  readonly lastProbe: ProbeResult | undefined;
  /** The active checks' verdict alone (what a probe-lease holder shares). */
  readonly activeHealthy: boolean;
  readonly consecutiveProbeOk: number;
  readonly consecutiveProbeFail: number;
  /** nginx `fails`. */
  readonly fails: number;
  /** Until when passive accounting keeps the target out (before the trial request), if it does. */
  readonly downUntil: number | undefined;
  readonly ejections: number;
  readonly ejectedUntil: number | undefined;
  readonly drainDeadline: number | undefined;
}

export interface HealthTableOptions {
  /**
   * The group's targets in config order: `backup` (panic counts primaries), and the health
   * record a target already has when it outlives a config (its probes, passive failures,
   * ejections, drain and slow start carry over); a new one is made without it.
   */
  readonly targets: ReadonlyArray<{ readonly backup?: boolean; readonly record?: TargetHealth | undefined }>;
  readonly settings: HealthSettings;
  /** Creation time. Targets present at creation never slow-start (HAProxy: not at process start). */
  readonly now: number;
}

/** A record for a target the table has not seen: healthy unless active checks say to start unhealthy (ALB "initial"). */
export function newHealthRecord(settings: HealthSettings, now: number): TargetHealth {
  const probing = settings.healthCheck?.enabled === true;
  return new TargetHealth(!probing || settings.healthCheck?.initialState !== "unhealthy", now);
}

export class HealthTable {
  readonly size: number;
  private readonly targets: TargetHealth[];
  private readonly backup: boolean[];
  /** nginx `peers->single`: one target in all, passive checks never mark it down. */
  private readonly single: boolean;
  private readonly maxFails: number;
  private readonly failTimeoutMs: number;
  private readonly failOn: ReadonlySet<string | number>;
  private readonly slowStartMs: number;
  private readonly minFactor: number;
  private readonly listeners = new Set<(t: Transition) => void>();

  /** Counts over `targets`, kept in step by `refresh`. */
  private readonly tally: HealthTally;
  /** Earliest future instant at which some target's availability or weight factor changes by itself. */
  private nextDeadline = Number.POSITIVE_INFINITY;

  constructor(private readonly options: HealthTableOptions) {
    const { settings, now } = options;
    this.size = options.targets.length;
    this.backup = options.targets.map((t) => t.backup === true);
    this.single = this.size === 1;
    this.maxFails = settings.passive.maxFails;
    this.failTimeoutMs = settings.passive.failTimeout * 1000;
    this.failOn = new Set(settings.passive.failOn);
    this.slowStartMs = settings.slowStart * 1000;
    this.minFactor = settings.slowStartMinWeightPercent / 100;
    this.targets = options.targets.map((t) => (t.record ? t.record.adopted() : newHealthRecord(settings, now)));
    this.tally = new HealthTally(this.size, this.backup.filter((b) => !b).length);
    for (let i = 0; i < this.size; i++) this.refresh(i, now, "initial state");
  }

  /** Subscribe to state changes (fired once per change, never per request). Returns an unsubscribe function. */
  onTransition(cb: (t: Transition) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /** May target i take new traffic now? Health only, plus panic mode (which never revives a draining target). */
  available(i: number, now: number): boolean {
    this.sync(now);
    const t = this.targets[i]!;
    if (!t.unavailable) return true;
    return !t.draining && this.panicking();
  }

  /**
   * Would target i be healthy if it were not draining? A draining target keeps
   * its sticky clients only while this holds: a dead, ejected or passively
   * down target must not be sent anyone.
   */
  healthyIgnoringDrain(i: number, now: number): boolean {
    this.sync(now);
    const t = this.targets[i]!;
    return t.activeHealthy && !t.ejected(now) && !t.passiveBlocked(this.maxFails, this.failTimeoutMs, now) && now >= t.sharedDownUntil;
  }

  /**
   * O(1) hint for strategies: every target (of one tier, when given) is
   * available with its full weight. Per tier because the core runs one
   * strategy over the primaries and one over the backups.
   */
  allEligible(now: number, tier?: "primary" | "backup"): boolean {
    this.sync(now);
    return this.tally.allEligible(tier);
  }

  /** Slow-start multiplier in [min percent, 1]. */
  weightFactor(i: number, now: number): number {
    this.sync(now);
    return this.targets[i]!.weightFactor(this.slowStartMs, this.minFactor, now);
  }

  /** Envoy's panic threshold, `panicThreshold` % of the primaries (tally.ts). */
  panic(now: number): boolean {
    this.sync(now);
    return this.panicking();
  }

  /**
   * Call when target i has been chosen for an attempt, before sending. This is
   * nginx's `if (now - checked > fail_timeout) checked = now`: after the fail
   * window the first pick opens a new window, so exactly one trial request
   * reaches a target that passive checks took down.
   */
  beginAttempt(i: number, now: number): void {
    this.sync(now);
    const t = this.targets[i]!;
    if (now >= t.checked + this.failTimeoutMs) t.checked = now;
    this.refresh(i, now, undefined);
  }

  /**
   * Feed one attempt's outcome to passive checks and outlier detection.
   * Returns true when the attempt counts as a failure under `passive.failOn`
   * (what the strategies' `report(ok)` should be told).
   */
  recordAttempt(i: number, outcome: AttemptResult, now: number): boolean {
    this.sync(now);
    const failed = this.failOn.has(outcome.kind === "status" || outcome.kind === "ok" ? (outcome.status ?? 0) : outcome.kind);
    if (this.single) return failed;
    const t = this.targets[i]!;
    const passive = observePassive(t, outcome, failed, this.maxFails, now);
    if (passive.recovered) this.startSlowStart(t, now);
    let reason = passive.reason;
    const od = this.options.settings.outlierDetection;
    if (od) reason = observeOutlier(t, outcome, od, this.targets, now) ?? reason;
    this.refresh(i, now, reason);
    return failed;
  }

  /** Feed one active probe result (ALB thresholds; the first answer decides alone). */
  recordProbe(i: number, ok: boolean, detail: string, now: number): void {
    this.sync(now);
    const t = this.targets[i]!;
    const verdict = observeProbe(t, ok, detail, this.options.settings.healthCheck, now);
    if (verdict.recovered) this.startSlowStart(t, now);
    let reason = verdict.reason;
    // Envoy `successful_active_health_check_uneject_host` (default true).
    if (ok && t.ejected(now)) {
      t.ejectedUntil = now;
      reason ??= "probe passed: ejection lifted";
    }
    this.refresh(i, now, reason);
  }

  /**
   * Take the active-check verdict another instance reached (the one holding
   * the probe lease in a shared state store): the thresholds were counted
   * there, so the verdict applies as is. Local run counters are left alone.
   */
  applySharedVerdict(i: number, healthy: boolean, lastProbe: ProbeResult | undefined, now: number): void {
    this.sync(now);
    const t = this.targets[i]!;
    if (lastProbe) t.lastProbe = lastProbe;
    t.probed = true;
    if (t.activeHealthy === healthy) return;
    t.activeHealthy = healthy;
    if (healthy) this.startSlowStart(t, now);
    this.refresh(i, now, `shared probe verdict: ${lastProbe?.detail ?? (healthy ? "healthy" : "unhealthy")}`, true);
  }

  /** Keep target i out until `until`: passive failures another instance saw (nginx max_fails, shared). */
  applySharedDown(i: number, until: number, now: number): void {
    this.sync(now);
    const t = this.targets[i]!;
    if (until <= t.sharedDownUntil || until <= now) return;
    t.sharedDownUntil = until;
    this.refresh(i, now, `failures seen by another instance, out for ${Math.round((until - now) / 1000)} s`, true);
  }

  /** Start (deadline = when in-flight requests may be cut) or stop (undefined) draining target i. */
  setDraining(i: number, deadline: number | undefined, now: number): void {
    this.sync(now);
    const t = this.targets[i]!;
    const was = t.draining;
    t.drainDeadline = deadline;
    if (was && deadline === undefined) this.startSlowStart(t, now);
    this.refresh(i, now, deadline === undefined ? "drain cancelled" : "draining");
  }

  /** Target i's record, which outlives this table when the target stays in the next config. */
  record(i: number): TargetHealth {
    return this.targets[i]!;
  }

  /** Deadline of target i's drain, or undefined when it is not draining. */
  drainDeadline(i: number): number | undefined {
    return this.targets[i]!.drainDeadline;
  }

  /** Ramp target i from now on (a target added by a config reload, an operator re-enabling it). */
  beginSlowStart(i: number, now: number): void {
    this.sync(now);
    this.startSlowStart(this.targets[i]!, now);
    this.refresh(i, now, "slow start");
  }

  status(i: number, now: number): TargetStatus {
    this.sync(now);
    const t = this.targets[i]!;
    return {
      state: t.state,
      available: this.available(i, now),
      since: t.since,
      weightFactor: t.weightFactor(this.slowStartMs, this.minFactor, now),
      lastProbe: t.lastProbe,
      activeHealthy: t.activeHealthy,
      consecutiveProbeOk: t.okRun,
      consecutiveProbeFail: t.failRun,
      fails: t.fails,
      downUntil: !this.single && t.passiveBlocked(this.maxFails, this.failTimeoutMs, now) ? t.checked + this.failTimeoutMs : undefined,
      ejections: t.ejections,
      ejectedUntil: t.ejected(now) ? t.ejectedUntil : undefined,
      drainDeadline: t.drainDeadline,
    };
  }

  statuses(now: number): TargetStatus[] {
    return this.targets.map((_, i) => this.status(i, now));
  }

  /** Counts for metrics (O(1) after the lazy expiry check). */
  counts(now: number): { available: number; unavailable: number; impaired: number } {
    this.sync(now);
    const { unavailable, impaired } = this.tally;
    return { available: this.size - unavailable, unavailable, impaired };
  }

  // ---- internals ----

  private panicking(): boolean {
    return this.tally.panicking(this.options.settings.panicThreshold);
  }

  private startSlowStart(t: TargetHealth, now: number): void {
    if (this.slowStartMs > 0) t.slowStartSince = now;
  }

  /** Re-evaluate every target when a deadline has passed. */
  private sync(now: number): void {
    if (now < this.nextDeadline) return;
    this.nextDeadline = Number.POSITIVE_INFINITY;
    for (let i = 0; i < this.size; i++) this.refresh(i, now, undefined);
  }

  /** Recompute target i's derived fields and the counters; emit a transition when its state changed. */
  private refresh(i: number, now: number, reason: string | undefined, shared = false): void {
    const t = this.targets[i]!;
    if (t.ejectionPending && !t.ejected(now)) {
      t.ejectionPending = false;
      // Returning to service ramps like any other recovery (HAProxy slowstart applies whenever a server comes up).
      if (this.slowStartMs > 0) t.slowStartSince = t.ejectedUntil;
      reason ??= "ejection ended";
    }
    const passiveBlocked = !this.single && t.passiveBlocked(this.maxFails, this.failTimeoutMs, now);
    const ejected = t.ejected(now);
    const sharedDown = now < t.sharedDownUntil;
    const unavailable = t.draining || ejected || !t.activeHealthy || passiveBlocked || sharedDown;
    const factor = t.weightFactor(this.slowStartMs, this.minFactor, now);
    const impaired = unavailable || factor < 1;
    const state: TargetState = t.draining
      ? "draining"
      : ejected
      ? "ejected"
      : !t.activeHealthy || sharedDown || (!this.single && t.passiveDown(this.maxFails))
      ? "unhealthy"
      : factor < 1
      ? "slow_start"
      : "healthy";

    this.tally.update(t, !this.backup[i], unavailable, impaired);

    // Deadlines at which this target changes by itself.
    if (passiveBlocked) this.noteDeadline(t.checked + this.failTimeoutMs);
    if (ejected) this.noteDeadline(t.ejectedUntil);
    if (sharedDown) this.noteDeadline(t.sharedDownUntil);
    if (factor < 1 && t.slowStartSince !== undefined) this.noteDeadline(t.slowStartSince + this.slowStartMs);

    if (state !== t.state) {
      const from = t.state;
      // A state another instance's word put it in, left by time alone (the shared hold expired), is that instance's too.
      const fromShared = shared || (t.stateShared && reason === undefined);
      t.state = state;
      t.since = now;
      t.stateShared = shared;
      const why = reason ?? (from === "slow_start" && state === "healthy" ? "slow start complete" : "time");
      for (const cb of this.listeners) cb({ index: i, from, to: state, reason: why, at: now, shared: fromShared });
    }
  }

  private noteDeadline(at: number): void {
    if (at < this.nextDeadline) this.nextDeadline = at;
  }
}
