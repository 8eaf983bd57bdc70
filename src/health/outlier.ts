/**
 * Envoy-style outlier detection (consecutive-5xx and consecutive gateway
 * failure detectors, evaluated inline on each attempt rather than on Envoy's
 * interval sweep). Kept apart from the health table, one concept per file:
 * the table calls it on each recorded attempt and applies the ejection it
 * writes into the target's state.
 */
import type { OutlierDetectionConfig } from "./schema.ts";
import type { AttemptResult, TargetHealth } from "./target-health.ts";

const GATEWAY = new Set([502, 503, 504]);

/**
 * Feed one attempt's outcome to target `t`'s detectors; `targets` is the whole
 * group (for max ejection percent). Updates `t`'s run counters and, when it
 * ejects, its ejection fields; returns a reason when it ejects.
 */
export function observeOutlier(
  t: TargetHealth,
  outcome: AttemptResult,
  od: OutlierDetectionConfig,
  targets: readonly TargetHealth[],
  now: number,
): string | undefined {
  if (t.ejected(now)) return undefined;
  const transport = outcome.kind === "connect" || outcome.kind === "timeout" || outcome.kind === "reset";
  const status = outcome.status ?? 0;
  // Local failures count as 5xx and gateway failures (Envoy without split_external_local_origin_errors).
  t.consecutive5xx = transport || status >= 500 ? t.consecutive5xx + 1 : 0;
  t.consecutiveGateway = transport || GATEWAY.has(status) ? t.consecutiveGateway + 1 : 0;
  const by5xx = od.consecutive5xx > 0 && t.consecutive5xx >= od.consecutive5xx;
  const byGateway = od.consecutiveGatewayFailure !== undefined && t.consecutiveGateway >= od.consecutiveGatewayFailure;
  if (!by5xx && !byGateway) return undefined;
  const run = by5xx ? `${t.consecutive5xx} consecutive 5xx` : `${t.consecutiveGateway} consecutive gateway failures`;
  t.consecutive5xx = t.consecutiveGateway = 0;
  // Envoy ejects only while `100 * ejected / hosts < max_ejection_percent`.
  let ejected = 0;
  for (const other of targets) if (other.ejected(now)) ejected++;
  if ((ejected * 100) / targets.length >= od.maxEjectionPercent) return undefined;
  // The multiplier decays by one per `interval` spent un-ejected (Envoy's sweep).
  if (t.ejections > 0 && Number.isFinite(t.ejectedUntil)) {
    const quiet = Math.floor((now - t.ejectedUntil) / (od.interval * 1000));
    t.ejections = Math.max(0, t.ejections - Math.max(0, quiet));
  }
  t.ejections++;
  const base = od.baseEjectionTime * 1000;
  const durationMs = Math.max(base, Math.min(base * t.ejections, od.maxEjectionTime * 1000));
  t.ejectedUntil = now + durationMs;
  t.ejectionPending = true;
  return `ejected for ${durationMs / 1000} s after ${run} (ejection ${t.ejections})`;
}
