/**
 * The health record of one target and the pure rules that read it. The
 * table (table.ts) owns an array of these and keeps counters over them; the
 * rules live here so each one is stated once.
 *
 * Times are monotonic milliseconds (the platform's `now()`).
 */

export type TargetState = "healthy" | "unhealthy" | "draining" | "ejected" | "slow_start";

/** What happened to one attempt at a target. Pass `status` for every response. */
export interface AttemptResult {
  readonly kind: "ok" | "connect" | "timeout" | "reset" | "status";
  readonly status?: number;
}

export interface ProbeResult {
  readonly ok: boolean;
  /** Short human text: "200", "503 (expected 200)", "timeout after 5 s", ... */
  readonly detail: string;
  readonly at: number;
}

export class TargetHealth {
  // Active checks: consecutive counters (ALB thresholds, HAProxy rise/fall).
  activeHealthy: boolean;
  /** False until the first probe answers; that answer decides alone. */
  probed = false;
  okRun = 0;
  failRun = 0;
  lastProbe: ProbeResult | undefined = undefined;

  // Passive checks: nginx's peer fields, same names and meaning.
  fails = 0;
  /** Last failure, or the start of the last trial window (nginx `checked`). */
  checked = Number.NEGATIVE_INFINITY;
  /** Last failure (nginx `accessed`). */
  accessed = Number.NEGATIVE_INFINITY;

  // Outlier detection (Envoy).
  consecutive5xx = 0;
  consecutiveGateway = 0;
  ejections = 0;
  ejectedUntil = Number.NEGATIVE_INFINITY;
  /** An ejection whose end the table has not yet observed (to start slow start and log it once). */
  ejectionPending = false;

  /** Another instance saw this target fail passively and shared it (state store): out until then. */
  sharedDownUntil = Number.NEGATIVE_INFINITY;

  // Draining (ALB deregistration).
  drainDeadline: number | undefined = undefined;

  // Slow start: ramp start time, undefined when not ramping (process start, never ramped).
  slowStartSince: number | undefined = undefined;

  // Derived: `state` and `since` maintained by the table, the rest by its tally (tally.ts).
  state: TargetState = "healthy";
  /** `state` was reached on another instance's word (a shared probe verdict or shared passive hold). */
  stateShared = false;
  since: number;
  unavailable = false;
  impaired = false;
  countedDraining = false;

  constructor(initiallyHealthy: boolean, now: number) {
    this.activeHealthy = initiallyHealthy;
    this.since = now;
  }

  /**
   * This record, for a new table: the derived counters' flags are cleared so that the new
   * table's tally, which starts from zero, counts it afresh (the old table is dropped).
   */
  adopted(): this {
    this.unavailable = false;
    this.impaired = false;
    this.countedDraining = false;
    return this;
  }

  get draining(): boolean {
    return this.drainDeadline !== undefined;
  }

  ejected(now: number): boolean {
    return now < this.ejectedUntil;
  }

  /** nginx: `fails >= max_fails` (whatever the time; availability adds the window). */
  passiveDown(maxFails: number): boolean {
    return maxFails > 0 && this.fails >= maxFails;
  }

  /**
   * nginx skips a peer while `fails >= max_fails && now - checked <= fail_timeout`.
   * nginx compares whole seconds; with milliseconds the boundary instant is
   * immaterial, so the window here is half-open: available again at
   * `checked + failTimeout`.
   */
  passiveBlocked(maxFails: number, failTimeoutMs: number, now: number): boolean {
    return this.passiveDown(maxFails) && now < this.checked + failTimeoutMs;
  }

  /** Linear ramp from `minFactor` to 1 over `windowMs` (Envoy slow start with aggression 1). */
  weightFactor(windowMs: number, minFactor: number, now: number): number {
    if (windowMs <= 0 || this.slowStartSince === undefined) return 1;
    const elapsed = now - this.slowStartSince;
    if (elapsed >= windowMs) return 1;
    return Math.max(minFactor, elapsed / windowMs);
  }
}
