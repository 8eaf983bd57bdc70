/**
 * Failover to another target group, Cloudflare Load Balancing's
 * `minimum_origins` and `fallback_pool`: when fewer than `minHealthy` of a
 * group's targets can take traffic, its requests go to `fallbackGroup`
 * (whose own fallback applies in turn). Back only once the group has had
 * enough targets for `failbackDelay` without a break, so that a target
 * flapping around the threshold does not send clients back and forth.
 *
 * The state lives with the pool (the long-lived side of the core), by group
 * name, so a reload or a weight change that rebuilds the group keeps it.
 * Requests drive it, as they read the health table: nothing runs on a timer.
 */
/** One group's failover, as it goes on across configs. */
export class FailoverState {
  /** Its traffic goes to the fallback group. */
  down = false;
  /** Since when (platform ms) it has had enough targets again, while down. */
  private upSince: number | undefined = undefined;

  /**
   * Whether the group's traffic goes to its fallback now, given how many of its targets are
   * available; `say` hears each change, once.
   */
  failedOver(available: number, minHealthy: number, failbackMs: number, now: number, say: (down: boolean) => void): boolean {
    if (!this.down) {
      if (available >= minHealthy) return false;
      this.down = true;
      this.upSince = undefined;
      say(true);
      return true;
    }
    if (available < minHealthy) {
      this.upSince = undefined;
      return true;
    }
    this.upSince ??= now;
    if (now - this.upSince < failbackMs) return true;
    this.down = false;
    this.upSince = undefined;
    say(false);
    return false;
  }
}
