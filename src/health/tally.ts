/**
 * Group-wide counts over a health table's targets, kept in step as each
 * target's derived state changes. The strategies' `allEligible` hint, panic
 * mode and the metrics read them in O(1) instead of walking the targets on
 * every request.
 */
import type { TargetHealth } from "./target-health.ts";

export class HealthTally {
  unavailable = 0;
  impaired = 0;
  private impairedBackup = 0;
  private primaryAvailable: number;
  private primaryNotDraining: number;
  private backupAvailable: number;

  /** Every target starts available, not impaired and not draining (`TargetHealth`'s derived fields). */
  constructor(size: number, primaries: number) {
    this.primaryAvailable = this.primaryNotDraining = primaries;
    this.backupAvailable = size - primaries;
  }

  /** Fold target `t`'s newly derived availability and impairment in, and record them on `t`. */
  update(t: TargetHealth, primary: boolean, unavailable: boolean, impaired: boolean): void {
    if (unavailable !== t.unavailable) {
      const d = unavailable ? 1 : -1;
      this.unavailable += d;
      if (primary) this.primaryAvailable -= d;
      else this.backupAvailable -= d;
      t.unavailable = unavailable;
    }
    if (impaired !== t.impaired) {
      this.impaired += impaired ? 1 : -1;
      if (!primary) this.impairedBackup += impaired ? 1 : -1;
      t.impaired = impaired;
    }
    if (t.countedDraining !== t.draining) {
      if (primary) this.primaryNotDraining += t.draining ? -1 : 1;
      t.countedDraining = t.draining;
    }
  }

  /** Every target (of one tier, when given) is available with its full weight. */
  allEligible(tier?: "primary" | "backup"): boolean {
    if (tier === undefined) return this.impaired === 0;
    return tier === "backup" ? this.impairedBackup === 0 : this.impaired - this.impairedBackup === 0;
  }

  /**
   * Envoy's panic threshold: fewer than `threshold` % of the non-draining
   * primaries are available and no backup is (backups are the first fallback,
   * as in nginx; panic is the last). 0 disables it.
   */
  panicking(threshold: number): boolean {
    if (threshold <= 0 || this.backupAvailable > 0 || this.primaryNotDraining === 0) return false;
    return (this.primaryAvailable * 100) / this.primaryNotDraining < threshold;
  }
}
