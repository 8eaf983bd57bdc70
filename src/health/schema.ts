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
import { bytes, described, integer, percent, quote, seconds } from "../config/units.ts";
import { isStatusList } from "./status-matcher.ts";

const httpStatus = integer(100, 599, "an HTTP status");

/** Attempt failures that are not HTTP statuses (the `kind` of an attempt outcome). */
export const transportFailures = ["connect", "timeout", "reset"] as const;
export type TransportFailure = (typeof transportFailures)[number];

export const PassiveSchema = v.strictObject({
  maxFails: described(
    v.optional(integer(0, 1000), 1),
    "Failures within failTimeout that mark a target down (nginx max_fails); 0 disables passive health. Default 1.",
  ),
  failTimeout: described(
    v.optional(seconds(0.001, 3600), 10),
    "Seconds: the window in which failures are counted, and how long a target then stays down (nginx fail_timeout). Default 10.",
  ),
  // nginx's default is `proxy_next_upstream error timeout`: its `error` covers
  // both a refused connection and one broken while sending the request or
  // reading the headers, hence connect + reset.
  failOn: described(
    v.optional(
      v.array(
        v.union(
          [v.picklist(transportFailures), httpStatus],
          (i) => `expected "connect", "timeout", "reset" or an HTTP status, got ${quote(i.input)}`,
        ),
      ),
      ["connect", "reset", "timeout"],
    ),
    'What counts as a failure: "connect" (no connection could be made), "reset" (the connection broke before the response headers), "timeout" (no response headers in time), and HTTP statuses such as 502 (nginx http_502). Default ["connect", "reset", "timeout"].',
  ),
});

/**
 * Envoy outlier detection (consecutive failures only, evaluated inline on
 * every attempt). Absent = off. Connect failures, resets and timeouts count
 * as 5xx and as gateway failures, as in Envoy without
 * `split_external_local_origin_errors`.
 */
export const OutlierDetectionSchema = v.strictObject({
  consecutive5xx: described(
    v.optional(integer(0, 1000), 5),
    "Consecutive 5xx answers (connect failures, resets and timeouts included) that eject a target (Envoy consecutive_5xx); 0 disables this detector. Default 5.",
  ),
  // Absent = off: Envoy defines the threshold as 5 but enforces it 0 % of the
  // time by default (`enforcing_consecutive_gateway_failure` 0).
  consecutiveGatewayFailure: described(
    v.optional(integer(1, 1000)),
    "Consecutive gateway failures (502, 503, 504, connect failures, resets, timeouts) that eject a target (Envoy consecutive_gateway_failure). Default: off.",
  ),
  baseEjectionTime: described(
    v.optional(seconds(0.001, 86400), 30),
    "Seconds a first ejection lasts; the n-th lasts n times this (Envoy base_ejection_time). Default 30.",
  ),
  maxEjectionTime: described(
    v.optional(seconds(0.001, 86400), 300),
    "Cap in seconds on n x baseEjectionTime; baseEjectionTime wins when larger (Envoy max_ejection_time). Default 300.",
  ),
  // Envoy's `ejected_percent < max_ejection_percent` test (outlier_detection_impl.cc).
  maxEjectionPercent: described(
    v.optional(percent, 10),
    "A target is ejected only while the ejected share of the group is below this percentage, so one target can always be ejected when it is above 0 (Envoy max_ejection_percent). Default 10.",
  ),
  interval: described(
    v.optional(seconds(0.001, 3600), 10),
    "Seconds; ejections are decided on every attempt, so this only paces how the ejection multiplier decays: it drops by one for every interval a target spends un-ejected (Envoy interval). Default 10.",
  ),
});

const headerName = v.pipe(v.string(), v.regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "expected a header name"));

export const MatcherSchema = v.strictObject({
  statuses: described(
    v.optional(
      v.pipe(v.string(), v.check(isStatusList, (i) => `expected HTTP statuses like "200" or "200-399,418", got ${quote(i.input)}`)),
      "200",
    ),
    'Statuses that pass, in ALB matcher syntax: "200", "200,202", "200-399,418". Default "200".',
  ),
  body: described(
    v.optional(v.pipe(v.string(), v.nonEmpty("expected a non-empty substring"))),
    "Text the first 64 KiB of the response body must contain (Cloudflare expected_body, HAProxy http-check expect string). Not with method HEAD.",
  ),
});

export const HealthCheckSchema = v.pipe(
  v.strictObject({
    enabled: described(
      v.optional(v.boolean(), true),
      "Probe the targets. Default true when healthCheck is present; false keeps the settings but stops probing.",
    ),
    // ALB allows 5-300; 1 s is accepted so that tests and small setups can probe fast.
    interval: described(v.optional(seconds(1, 300), 30), "Seconds between probes of a target, 1 to 300 (ALB interval). Default 30."),
    timeout: described(
      v.optional(seconds(0.001, 120)),
      "Seconds a probe may take; must be below interval, so probes never overlap (as in ALB). Default 5, or half the interval when that is shorter.",
    ),
    path: described(
      v.optional(v.pipe(v.string(), v.startsWith("/", "expected a path starting with /")), "/"),
      "Path (and query) probed on each target. Redirects are not followed. Default /.",
    ),
    method: described(
      v.optional(v.picklist(["GET", "HEAD"], (i) => `expected GET or HEAD, got ${quote(i.input)}`), "GET"),
      "GET or HEAD. Default GET.",
    ),
    headers: described(
      v.optional(v.record(headerName, v.string()), {}),
      "Extra request headers for probes, by name. User-Agent is fulcrum-health-check unless set here.",
    ),
    port: described(
      v.optional(integer(1, 65535, "a port")),
      "Probe this port instead of the target's (ALB: a number instead of traffic-port). Default: the target's port.",
    ),
    matcher: described(v.optional(MatcherSchema, {}), "What a passing answer looks like: statuses, and optionally a body substring. Default: status 200."),
    healthyThreshold: described(
      v.optional(integer(1, 10), 5),
      "Consecutive passing probes that bring an unhealthy target back, 1 to 10 (ALB 5, HAProxy rise 2). Default 5.",
    ),
    unhealthyThreshold: described(
      v.optional(integer(1, 10), 2),
      "Consecutive failing probes that take a healthy target down, 1 to 10 (ALB 2, HAProxy fall 3). Default 2.",
    ),
    // 0.1 by default so that many balancers started together do not probe in lockstep (envoy#10498).
    jitter: described(
      v.optional(
        v.pipe(v.number("expected a fraction from 0 to 1"), v.minValue(0, "expected a fraction from 0 to 1"), v.maxValue(1, "expected a fraction from 0 to 1")),
        0.1,
      ),
      "Random extra wait between probes as a fraction of interval, 0 to 1: each wait is interval x (1 + jitter x random) (Envoy interval_jitter). Default 0.1.",
    ),
    // `healthy` (HAProxy's `up` init-state) so that a cold start does not 503
    // everything while probes are in flight; `unhealthy` is ALB's "initial" state.
    initialState: described(
      v.optional(v.picklist(["healthy", "unhealthy"], (i) => `expected healthy or unhealthy, got ${quote(i.input)}`), "healthy"),
      'A target\'s state before its first probe answers; that first answer then decides alone (thresholds apply from the second on). Default "healthy".',
    ),
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

export const RetriesSchema = v.strictObject({
  tries: described(
    v.optional(integer(0, 100), 3),
    "Total attempts including the first, each to a target not yet tried (nginx proxy_next_upstream_tries; HAProxy's retries 3 makes 4); 0 = as many as there are targets. Default 3.",
  ),
  budget: described(
    v.optional(seconds(0, 86400), 0),
    "Seconds for all attempts together (nginx proxy_next_upstream_timeout); 0 = no limit. Default 0.",
  ),
  retryOn: described(
    v.optional(v.array(httpStatus), [502, 503, 504]),
    "Response statuses that are retried on another target, for idempotent requests only (nginx http_502 http_503 http_504). Default [502, 503, 504].",
  ),
  budgetPercent: described(
    v.optional(percent, 0),
    "Retries in flight at once, as a percentage of the group's requests in flight (Envoy retry_budget budget_percent), so that retries cannot multiply the load on a group in an outage; a retry over it is not made and the client gets the failure. 0 = no budget (only tries bounds them). Default 0.",
  ),
  minRetryConcurrency: described(
    v.optional(integer(1, 10_000), 3),
    "With budgetPercent: retries in flight always allowed, whatever the percentage gives (Envoy min_retry_concurrency). Default 3.",
  ),
  maxReplayBodyBytes: described(
    v.optional(bytes(0, 16 * 1024 * 1024), 64 * 1024),
    'Request bodies up to this many bytes (or a size like "64KiB") are buffered so a retry can resend them; larger ones stream and are not retried once sent. 0 = never buffer. Default 65536 (64 KiB), at most 16 MiB.',
  ),
});

export const healthEntries = {
  passive: described(
    v.optional(PassiveSchema, {}),
    "Passive health from real traffic (nginx max_fails / fail_timeout): maxFails failures within failTimeout take a target down for failTimeout, then one trial request decides. A group of one target is never marked down.",
  ),
  outlierDetection: described(
    v.optional(OutlierDetectionSchema),
    "Ejects targets after consecutive failures (Envoy outlier detection, consecutive failures only). Absent = off.",
  ),
  healthCheck: described(v.optional(HealthCheckSchema), "Active HTTP probes of every target (ALB target group health checks). Absent = off."),
  retries: described(v.optional(RetriesSchema, {}), "Retries on another target (nginx proxy_next_upstream, HAProxy retries and redispatch)."),
  slowStart: described(
    v.optional(seconds(0, 3600), 0),
    "Seconds over which a target that becomes healthy again ramps from slowStartMinWeightPercent to its full weight (HAProxy slowstart, Envoy slow_start_window); never applied at process start. 0 = off. Default 0.",
  ),
  slowStartMinWeightPercent: described(
    v.optional(v.pipe(percent, v.minValue(1, "expected a percentage from 1 to 100")), 10),
    "Share of its weight, in percent (1 to 100), that a target starts its slow start with (Envoy min_weight_percent). Default 10.",
  ),
  deregistrationDelay: described(
    v.optional(seconds(0, 3600), 300),
    "Seconds a draining target keeps its in-flight requests and sticky clients, 0 to 3600 (ALB deregistration_delay). Default 300.",
  ),
  // 0 by default, as nginx answers 502 "no live upstreams"; Envoy defaults to
  // 50 and ALB fails open, which hides outages behind errors from dead targets.
  panicThreshold: described(
    v.optional(percent, 0),
    "When fewer than this percent of the primary targets are available and no backup is, every non-draining target is used again (Envoy healthy_panic_threshold). 0 = off: answer 503 instead. Default 0.",
  ),
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
