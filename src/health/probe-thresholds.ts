/**
 * Active health checks' verdict from consecutive probe results: ALB's
 * `HealthyThresholdCount` / `UnhealthyThresholdCount` (HAProxy `rise` /
 * `fall`), except that the first answer decides alone, so a target is not
 * held at its initial state for several intervals at start-up.
 */
import type { HealthCheckConfig } from "./schema.ts";
import type { TargetHealth } from "./target-health.ts";

export interface ProbeChange {
  /** Why the verdict changed, when it did. */
  readonly reason: string | undefined;
  /** The target just turned healthy (slow start applies). */
  readonly recovered: boolean;
}

/** Count one probe result into `t` and update its verdict (`activeHealthy`). */
export function observeProbe(t: TargetHealth, ok: boolean, detail: string, settings: HealthCheckConfig | undefined, now: number): ProbeChange {
  t.lastProbe = { ok, detail, at: now };
  if (ok) {
    t.okRun++;
    t.failRun = 0;
  } else {
    t.failRun++;
    t.okRun = 0;
  }
  if (!t.probed) {
    t.probed = true;
    const changed = t.activeHealthy !== ok;
    t.activeHealthy = ok;
    return { reason: changed ? `first probe ${ok ? "passed" : "failed"}: ${detail}` : undefined, recovered: false };
  }
  if (t.activeHealthy && !ok && t.failRun >= (settings?.unhealthyThreshold ?? 1)) {
    t.activeHealthy = false;
    return { reason: `${t.failRun} consecutive failed probe${t.failRun === 1 ? "" : "s"}: ${detail}`, recovered: false };
  }
  if (!t.activeHealthy && ok && t.okRun >= (settings?.healthyThreshold ?? 1)) {
    t.activeHealthy = true;
    return { reason: `${t.okRun} consecutive passed probe${t.okRun === 1 ? "" : "s"}`, recovered: true };
  }
  return { reason: undefined, recovered: false };
}
