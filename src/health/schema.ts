/**
 * Health, retry and draining settings of a target group, as valibot entries
 * that the core spreads into its target-group schema:
 *
 *   v.strictObject({ ...coreEntries, ...healthEntries })
 *
 * Durations are seconds. Every default is a peer's default unless a comment
 * says why Fulcrum departs from it (see /work/shared/reference/peers.md).
 */
import * as v from "valibot";
import { bytes, integer, percent, quote, seconds } from "../config/units.ts";
import { isStatusList } from "./status-matcher.ts";

const httpStatus = integer(100, 599, "an HTTP status");

/** Attempt failures that are not HTTP statuses (the `kind` of an attempt outcome). */
export const transportFailures = ["connect", "timeout", "reset"] as const;
export type TransportFailure = (typeof transportFailures)[number];

/**
 * Passive health (nginx `max_fails` / `fail_timeout`): `maxFails` failures
 * within `failTimeout` mark a target down for `failTimeout`; then exactly one
 * trial request decides. A group of a single target is never marked down.
 */
export const PassiveSchema = v.strictObject({
  /** nginx `max_fails` 1; 0 disables passive accounting. */
  maxFails: v.optional(integer(0, 1000), 1),
  /** nginx `fail_timeout` 10 s: the counting window and the time a target stays down. */
  failTimeout: v.optional(seconds(0.001, 3600), 10),
  /**
   * What counts as a failure. nginx's default `proxy_next_upstream error
   * timeout`: its `error` covers both a refused connection and one broken
   * while sending the request or reading the headers, hence connect + reset.
   * HTTP statuses may be listed too (nginx `http_502` ...).
   */
  failOn: v.optional(
    v.array(
      v.union(
        [v.picklist(transportFailures), httpStatus],
        (i) => `expected "connect", "timeout", "reset" or an HTTP status, got ${quote(i.input)}`,
      ),
    ),
    ["connect", "reset", "timeout"],
  ),
});

/**
 * Envoy outlier detection (consecutive failures only, evaluated inline on
 * every attempt). Absent = off. Connect failures, resets and timeouts count
 * as 5xx and as gateway failures, as in Envoy without
 * `split_external_local_origin_errors`.
 */
export const OutlierDetectionSchema = v.strictObject({
  /** Envoy `consecutive_5xx` 5; 0 disables this detector. */
  consecutive5xx: v.optional(integer(0, 1000), 5),
  /**
   * Envoy `consecutive_gateway_failure` (502, 503, 504 and local failures).
   * Absent = off: Envoy defines the threshold as 5 but enforces it 0 % of the
   * time by default (`enforcing_consecutive_gateway_failure` 0).
   */
  consecutiveGatewayFailure: v.optional(integer(1, 1000)),
  /** Envoy `base_ejection_time` 30 s; the n-th ejection lasts n x this. */
  baseEjectionTime: v.optional(seconds(0.001, 86400), 30),
  /** Envoy `max_ejection_time` 300 s caps n x base (base wins when larger). */
  maxEjectionTime: v.optional(seconds(0.001, 86400), 300),
  /**
   * Envoy `max_ejection_percent` 10: a target is ejected only while the
   * ejected share is strictly below this, so one target can always be
   * ejected when the percentage is above 0 (Envoy's `ejected_percent <
   * max_ejection_percent` test, outlier_detection_impl.cc).
   */
  maxEjectionPercent: v.optional(percent, 10),
  /**
   * Envoy `interval` 10 s. Ejections are evaluated inline, so this only paces
   * how the ejection multiplier decays: it drops by one for every interval a
   * target spends un-ejected.
   */
  interval: v.optional(seconds(0.001, 3600), 10),
});

const headerName = v.pipe(v.string(), v.regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "expected a header name"));

export const MatcherSchema = v.strictObject({
  /** ALB matcher syntax: "200" (default), "200,202", "200-399,418". */
  statuses: v.optional(
    v.pipe(v.string(), v.check(isStatusList, (i) => `expected HTTP statuses like "200" or "200-399,418", got ${quote(i.input)}`)),
    "200",
  ),
  /** Substring the first 64 KiB of the body must contain (Cloudflare `expected_body`, HAProxy `http-check expect string`). */
  body: v.optional(v.pipe(v.string(), v.nonEmpty("expected a non-empty substring"))),
});

/** Active probes per target group (ALB target-group health checks). Absent = off. */
export const HealthCheckSchema = v.pipe(
  v.strictObject({
    /** True when the key is present; `false` keeps the settings but stops probing. */
    enabled: v.optional(v.boolean(), true),
    /** ALB 30 s. ALB allows 5-300; 1 s is accepted so that tests and small setups can probe fast. */
    interval: v.optional(seconds(1, 300), 30),
    /**
     * ALB 5 s; must be below `interval` (ALB's rule), so probes never overlap. Unset, it is 5 s or
     * half the interval when that is shorter, so that `interval: 5` alone is valid.
     */
    timeout: v.optional(seconds(0.001, 120)),
    path: v.optional(v.pipe(v.string(), v.startsWith("/", "expected a path starting with /")), "/"),
    method: v.optional(v.picklist(["GET", "HEAD"], (i) => `expected GET or HEAD, got ${quote(i.input)}`), "GET"),
    headers: v.optional(v.record(headerName, v.string()), {}),
    /** Probe this port instead of the target's (ALB `traffic-port` vs a number). */
    port: v.optional(integer(1, 65535, "a port")),
    matcher: v.optional(MatcherSchema, {}),
    /** ALB 5 consecutive passes bring an unhealthy target back (HAProxy `rise` 2). */
    healthyThreshold: v.optional(integer(1, 10), 5),
    /** ALB 2 consecutive failures take a healthy target down (HAProxy `fall` 3). */
    unhealthyThreshold: v.optional(integer(1, 10), 2),
    /**
     * Each wait is interval x (1 + jitter x random), Envoy `interval_jitter`
     * as a fraction. 0.1 by default so that many balancers started together
     * do not probe in lockstep (envoy#10498).
     */
    jitter: v.optional(
      v.pipe(v.number("expected a fraction from 0 to 1"), v.minValue(0, "expected a fraction from 0 to 1"), v.maxValue(1, "expected a fraction from 0 to 1")),
      0.1,
    ),
    /**
     * State before the first probe answers; that first answer then decides
     * alone (thresholds apply from the second on). `healthy` (HAProxy's `up`
     * init-state) so that a cold start does not 503 everything while probes
     * are in flight; `unhealthy` is ALB's "initial" state.
     */
    initialState: v.optional(v.picklist(["healthy", "unhealthy"], (i) => `expected healthy or unhealthy, got ${quote(i.input)}`), "healthy"),
  }),
  v.forward(
    v.partialCheck(
      [["interval"], ["timeout"]],
      (c) => c.timeout === undefined || c.timeout < c.interval,
      (i) =>
        `expected a timeout below the interval (${quote((i.input as { interval?: unknown }).interval)} s), got ${
          quote((i.input as { timeout?: unknown }).timeout)
        }`,
    ),
    ["timeout"],
  ),
  v.forward(
    v.partialCheck(
      [["method"], ["matcher", "body"]],
      (c) => !(c.method === "HEAD" && c.matcher.body !== undefined),
      "expected no body matcher with method HEAD (a HEAD response has no body), got a body matcher",
    ),
    ["matcher", "body"],
  ),
  v.transform((c) => ({ ...c, timeout: c.timeout ?? Math.min(5, c.interval / 2) })),
);

/** Retries to another target (nginx `proxy_next_upstream`, HAProxy `retries`/`redispatch`). */
export const RetriesSchema = v.strictObject({
  /**
   * Total attempts including the first (nginx `proxy_next_upstream_tries`;
   * HAProxy's `retries 3` counts retries, so it makes 4). 3 by default; 0 =
   * as many as there are untried targets (nginx's 0). Never more than the
   * group's targets, since each attempt goes to a target not yet tried.
   */
  tries: v.optional(integer(0, 100), 3),
  /** Total time for all attempts, seconds (nginx `proxy_next_upstream_timeout`); 0 = no limit (nginx default). */
  budget: v.optional(seconds(0, 86400), 0),
  /** Response statuses that are retried (for idempotent requests only); nginx `http_502 http_503 http_504`. */
  retryOn: v.optional(v.array(httpStatus), [502, 503, 504]),
  /**
   * Request bodies up to this size are buffered so they can be replayed;
   * larger ones stream and are never retried once sent. 0 = never buffer.
   */
  maxReplayBodyBytes: v.optional(bytes(0, 16 * 1024 * 1024), 64 * 1024),
});

export const healthEntries = {
  passive: v.optional(PassiveSchema, {}),
  outlierDetection: v.optional(OutlierDetectionSchema),
  healthCheck: v.optional(HealthCheckSchema),
  retries: v.optional(RetriesSchema, {}),
  /**
   * Seconds over which a target that (re)becomes healthy ramps from
   * `slowStartMinWeightPercent` to its full weight (HAProxy `slowstart`,
   * Envoy `slow_start_window`). 0 = off. Never applied at process start.
   */
  slowStart: v.optional(seconds(0, 3600), 0),
  /** Envoy `min_weight_percent` 10. */
  slowStartMinWeightPercent: v.optional(v.pipe(percent, v.minValue(1, "expected a percentage from 1 to 100")), 10),
  /** Seconds a draining target keeps its in-flight requests (ALB `deregistration_delay` 300, 0-3600). */
  deregistrationDelay: v.optional(seconds(0, 3600), 300),
  /**
   * Envoy `healthy_panic_threshold`: when fewer than this percent of the
   * primary targets are available and no backup is, every non-draining target
   * is used again. 0 = off (default): Fulcrum answers 503 instead, as nginx
   * answers 502 "no live upstreams"; Envoy defaults to 50 and ALB fails open,
   * which hides outages behind errors from dead targets.
   */
  panicThreshold: v.optional(percent, 0),
} as const;

const HealthSettingsSchema = v.strictObject(healthEntries);

/** The health part of a parsed target-group config (the group config itself satisfies it). */
export type HealthSettings = v.InferOutput<typeof HealthSettingsSchema>;
export type HealthSettingsInput = v.InferInput<typeof HealthSettingsSchema>;
export type PassiveConfig = v.InferOutput<typeof PassiveSchema>;
export type OutlierDetectionConfig = v.InferOutput<typeof OutlierDetectionSchema>;
export type HealthCheckConfig = v.InferOutput<typeof HealthCheckSchema>;
export type RetriesConfig = v.InferOutput<typeof RetriesSchema>;

/** Parse health settings alone (tests, tools); the core parses them as part of the group. */
export function parseHealthSettings(input: HealthSettingsInput = {}): HealthSettings {
  return v.parse(HealthSettingsSchema, input);
}
