/**
 * What the health module tells the metrics and the stats page: every group
 * with its targets' current state. A callback, read at scrape/poll time only,
 * so health changes cost the hot path nothing.
 */
/** A target's health state (health/target-health.ts), or "backup" for a healthy backup standing by. */
export const REPORTED_STATES = ["healthy", "unhealthy", "draining", "ejected", "slow_start", "backup"] as const;
export type ReportedState = (typeof REPORTED_STATES)[number];

export interface HealthCheckResult {
  readonly ok: boolean;
  /** Wall-clock milliseconds since the epoch. */
  readonly at: number;
  /** e.g. "200 in 3 ms", "connect refused", "timeout after 2 s". */
  readonly detail: string;
}

export interface TargetReport {
  readonly url: string;
  readonly name?: string;
  readonly state: ReportedState;
  readonly weight: number;
  readonly inflight: number;
  readonly lastCheck?: HealthCheckResult;
}

export interface GroupReport {
  readonly group: string;
  readonly targets: readonly TargetReport[];
  /**
   * This instance sends the group's active health checks (alone, holding the
   * shared probe lease, or because the shared store is unreachable); false when
   * it applies another instance's results; absent without active checks.
   */
  readonly probing?: boolean;
}

export type HealthProvider = () => readonly GroupReport[];

/** The shared state store as this instance sees it (metrics and stats). */
export interface StateStatus {
  readonly store: string;
  readonly reachable: boolean;
}

/**
 * States counted by `healthy_hosts` (Envoy's `membership_healthy`): passing
 * checks and able to take new requests, a standing-by backup included.
 * Draining targets pass checks but take no new requests, so they do not count.
 */
export function isHealthy(state: ReportedState): boolean {
  return state === "healthy" || state === "slow_start" || state === "backup";
}
