/**
 * The verdict on a canary step, from the numbers alone (pure, as the
 * strategies are): too few canary requests is no verdict; any check over
 * its limit fails the step at once (the canary goes back to 0 %); all
 * within limits once the step has lasted its interval passes it. Checks
 * against the stable side are made only when that side has `minRequests`
 * of its own, since a p99 of a handful of requests says nothing.
 */
import type { Side } from "./measure.ts";
import type { CanaryConfig } from "./schema.ts";

export type Verdict =
  | { readonly kind: "pass" }
  | { readonly kind: "fail"; readonly why: string }
  /** The step goes on: it has not lasted its interval, or has too few requests. */
  | { readonly kind: "wait"; readonly why: string };

const pct = (x: number) => `${x.toFixed(2)} %`;
const ms = (x: number) => `${x.toFixed(1)} ms`;

export function judge(config: CanaryConfig, canary: Side, stable: Side | undefined, elapsedMs: number): Verdict {
  const interval = config.interval * 1000;
  if (canary.requests < config.minRequests) {
    return { kind: "wait", why: `${canary.requests} of ${config.minRequests} canary requests${elapsedMs >= interval ? ": waiting for traffic" : ""}` };
  }
  const failed: string[] = [];
  if (canary.errorRate > config.maxErrorRate) failed.push(`5xx rate ${pct(canary.errorRate)} over maxErrorRate ${pct(config.maxErrorRate)}`);
  if (config.maxP99 !== undefined && canary.p99 !== undefined && canary.p99 > config.maxP99 * 1000) {
    failed.push(`p99 ${ms(canary.p99)} over maxP99 ${ms(config.maxP99 * 1000)}`);
  }
  if (stable !== undefined && stable.requests >= config.minRequests) {
    const over = config.maxErrorRateOverStable;
    if (over !== undefined && canary.errorRate - stable.errorRate > over) {
      failed.push(`5xx rate ${pct(canary.errorRate)} is more than ${over} points over the stable groups' ${pct(stable.errorRate)}`);
    }
    const ratio = config.maxP99OverStable;
    if (ratio !== undefined && canary.p99 !== undefined && stable.p99 !== undefined && canary.p99 > stable.p99 * ratio) {
      failed.push(`p99 ${ms(canary.p99)} is more than ${ratio}x the stable groups' ${ms(stable.p99)}`);
    }
  }
  if (failed.length > 0) return { kind: "fail", why: failed.join("; ") };
  if (elapsedMs < interval) return { kind: "wait", why: `within limits, ${Math.ceil((interval - elapsedMs) / 1000)} s of the step left` };
  return { kind: "pass" };
}
