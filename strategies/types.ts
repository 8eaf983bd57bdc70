/**
 * The one interface every balancing strategy implements (Caddy's `Selector`,
 * Pingora's `BackendSelection`). A strategy is built once per change of the
 * target set and swapped; health, retries and stickiness live outside it and
 * reach it only through the `PickContext` predicates. Time and randomness are
 * injected so that every strategy is deterministic under test.
 */

/** What a strategy knows about one target of its set. Index = position in the array. */
export interface StrategyTarget {
  /** Stable identity (the target URL), used by hashing strategies. */
  readonly id: string;
  /** Configured weight, integer >= 0. Weight 0 = no new traffic. */
  readonly weight: number;
}

export interface PickContext {
  /**
   * Request key for the hashing strategies: the client IP for `ip_hash`, the
   * configured key (header, cookie, query parameter, path, client IP) for
   * `hash`. Undefined when the request has no such key.
   */
  readonly key: string | undefined;
  /** Target i was already tried for this request (retries skip it). */
  tried(i: number): boolean;
  /** Target i may take new traffic (healthy, not draining, under its connection limit). */
  available(i: number): boolean;
  /** Requests (and WebSockets) in flight at target i, as counted by the balancer. */
  inflight(i: number): number;
  /** True when the owner calls `strategy.inflightChanged` on every in-flight change. */
  readonly notifiesInflight?: boolean;
  /** Slow-start multiplier in (0, 1] applied to target i's weight; 1 when absent. */
  weightFactor?(i: number): number;
  /*
   * Optional O(1) hints. A balancer that can answer them cheaply lets
   * strategies skip their per-target passes; strategies must give the same
   * answers with or without them (the hints only say what the per-target
   * predicates would say, in bulk).
   */
  /**
   * True only if, for every target of this strategy's set, `tried` is false,
   * `available` is true and `weightFactor` is 1 (no slow start): e.g.
   * `tried.size === 0 && unavailableCount === 0 && slowStartingCount === 0`
   * from the balancer's health-table counters. May return false whenever it
   * does not know (false is always safe; true must be exact).
   */
  allEligible?(): boolean;
  /** Sum of `inflight(i)` over all targets of this strategy's set, maintained by the balancer. */
  totalInflight?(): number;
  /**
   * The in-flight counts of all targets as one array indexed like the targets
   * (`inflightArray()[i] === inflight(i)`), read without a call per target.
   * The strategy only reads it during `pick` and never keeps it.
   */
  inflightArray?(): ArrayLike<number>;
  /** Monotonic milliseconds. */
  now(): number;
  /** Uniform in [0, 1). */
  random(): number;
}

/** Outcome of one attempt at a target, fed back to strategies that learn from traffic. */
export interface AttemptOutcome {
  /** False when the attempt failed as the passive health policy defines it. */
  readonly ok: boolean;
  /** Time to response headers (or to the failure), milliseconds. */
  readonly latencyMs: number;
  /** Monotonic milliseconds when the attempt ended. */
  readonly now: number;
}

export interface Strategy {
  /** Index of the chosen target, or -1 when no target is eligible (all tried or unavailable). */
  pick(ctx: PickContext): number;
  /** Optional feedback after each attempt (smooth WRR failure weight, latency EWMA, ...). */
  report?(i: number, outcome: AttemptOutcome): void;
  /**
   * Optional: target i now has `count` requests in flight. Called on every
   * change by an owner whose context sets `notifiesInflight` (least_connections
   * keeps its exact minimum with it instead of scanning every target).
   */
  inflightChanged?(i: number, count: number): void;
  /**
   * Optional, for strategies that learn from traffic (latency_aware's EWMA):
   * what target i has taught this instance, so that a successor built for a
   * new target set or new weights (`importLearned`) does not start from
   * nothing. The value is opaque to the owner and only handed to a strategy
   * of the same kind.
   */
  exportLearned?(i: number): unknown;
  importLearned?(i: number, learned: unknown): void;
}
