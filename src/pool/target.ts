/**
 * One target of one group as it lives across configs, keyed by (group, URL):
 * everything learnt about it and everything still running on it. A new config
 * (a reload, a config swap on Workers, a target added through the state
 * store) builds new groups, tiers and health tables, but binds them to the
 * same PoolTarget, so health, passive failure counts, ejections, slow start,
 * drain deadlines, in-flight counts and open WebSockets carry over, as Caddy's
 * `Host` objects survive reloads in its upstream pool (reverseproxy/hosts.go)
 * and Pingora carries health over for the backends that remain.
 *
 * What depends on the config, the target's place in its group's table and
 * tier, is its `binding`, set when that config becomes the current one. A
 * target no config lists any more has no binding: it finishes its requests
 * and WebSockets, then the pool drops it.
 */
import type { AttemptResult, HealthTable } from "../health/table.ts";
import type { TargetHealth } from "../health/target-health.ts";
import type { TargetMetrics } from "../metrics/registry.ts";

/** Where the current config puts a target: its group's health table and strategy tier. */
export interface Binding {
  readonly table: HealthTable;
  /** Position in the group's config order (the table's index). */
  readonly index: number;
  readonly tier: TierSlot;
  /** Position in its tier (the strategy's index). */
  readonly tierIndex: number;
  /** A backup target (nginx/HAProxy `backup`) in this config. */
  readonly backup: boolean;
  /** The weight the config gives it. */
  readonly configWeight: number;
}

/** What a target tells its tier (tier.ts): in-flight changes and attempt outcomes for the strategy. */
export interface TierSlot {
  counted(tierIndex: number, inflight: number, delta: number): void;
  report(tierIndex: number, ok: boolean, latencyMs: number): void;
}

/** An open WebSocket on a target, as far as the pool needs it: something to close. */
export interface OpenSocket {
  close(code: number, reason: string): void;
}

export class PoolTarget {
  readonly origin: string;
  /** `host:port`, for `hostHeader: "target"`. */
  readonly host: string;
  /** Requests and WebSockets in flight at this target right now (counted by the balancer). */
  inflight = 0;
  /**
   * In flight at this target on the host's other worker processes (`--workers`), as they last
   * said (every 250 ms): the strategies count it with `inflight`, so least_connections weighs
   * the host's load, not one worker's share of it.
   */
  elsewhere = 0;
  /** Its last attempt failed at the transport level: errors are logged once per transition. */
  failing = false;
  /** The weight in use: the config's, or a runtime override from the state store. */
  weight = 1;
  /** Who started its drain: the config (`targets[].drain`) or an operator through the state store. */
  drainedBy: "config" | "store" | undefined = undefined;
  /** Open WebSockets relayed to this target. */
  readonly sockets = new Set<OpenSocket>();
  /** The current config's place for it; undefined once no config lists it. */
  binding: Binding | undefined = undefined;
  /** Set by the pool: called once a target no config lists has nothing left running. */
  onIdle: (() => void) | undefined = undefined;

  constructor(
    readonly group: string,
    readonly url: string,
    /** Its counters and latency sketches, kept for as long as the target is. */
    readonly metrics: TargetMetrics,
    /** Its health record: made by the first table that lists it, then carried over. */
    public health: TargetHealth | undefined = undefined,
  ) {
    const u = new URL(url);
    this.origin = u.origin;
    this.host = u.host;
  }

  /** A request (or WebSocket) starts at this target. */
  begin(): void {
    this.inflight++;
    const b = this.binding;
    if (b !== undefined) b.tier.counted(b.tierIndex, this.inflight + this.elsewhere, 1);
  }

  /** ...and ends. */
  end(): void {
    this.inflight--;
    const b = this.binding;
    if (b !== undefined) b.tier.counted(b.tierIndex, this.inflight + this.elsewhere, -1);
    else if (this.idle) this.onIdle?.();
  }

  /** The other workers' count at this target changed (see `elsewhere`). */
  shareElsewhere(n: number): void {
    const delta = n - this.elsewhere;
    if (delta === 0) return;
    this.elsewhere = n;
    const b = this.binding;
    if (b !== undefined) b.tier.counted(b.tierIndex, this.inflight + n, delta);
  }

  /** Nothing runs on it: no request in flight, no WebSocket open. */
  get idle(): boolean {
    return this.inflight === 0 && this.sockets.size === 0;
  }

  /** Chosen for an attempt (nginx's trial-request window, health/table.ts). */
  beginAttempt(now: number): void {
    const b = this.binding;
    if (b !== undefined) b.table.beginAttempt(b.index, now);
  }

  /**
   * An attempt's outcome, for passive health and outlier detection and for the
   * strategy (smooth WRR failure weight, latency EWMA). Returns whether it
   * counts as a failure under `passive.failOn`. A target no config lists any
   * more records nothing: it is leaving.
   */
  recordAttempt(outcome: AttemptResult, latencyMs: number, now: number): boolean {
    const b = this.binding;
    if (b === undefined) return false;
    const failed = b.table.recordAttempt(b.index, outcome, now);
    b.tier.report(b.tierIndex, !failed, latencyMs);
    return failed;
  }

  /** Its drain deadline (monotonic ms), or undefined when it is not draining. */
  drainDeadline(): number | undefined {
    return this.health?.drainDeadline;
  }

  /** A socket opened on it: tracked until it closes. */
  addSocket(socket: OpenSocket): void {
    this.sockets.add(socket);
  }

  removeSocket(socket: OpenSocket): void {
    this.sockets.delete(socket);
    if (this.binding === undefined && this.idle) this.onIdle?.();
  }

  /** Close its WebSockets (drain deadline: 1012, the client reconnects elsewhere). */
  closeSockets(code: number, reason: string): number {
    const open = [...this.sockets];
    for (const s of open) s.close(code, reason);
    return open.length;
  }
}
