/**
 * The `canary` block of a weighted forward (controller.ts): which of the
 * forward's groups is the canary, the weights it goes through, and the
 * analysis that lets it go on or sends it back. The names follow Flagger's
 * `stepWeights`, `interval`, request-success-rate and request-duration
 * checks, whose thresholds are written here as limits.
 */
import * as v from "valibot";
import { described, integer, percent, quote, seconds } from "../config/units.ts";

export const CanarySchema = v.strictObject({
  group: described(
    v.pipe(v.string(), v.nonEmpty("expected a target group name")),
    "The canary: one of this forward's targetGroups. The others are the stable side and share what the canary does not take, in their configured proportions.",
  ),
  steps: described(
    v.optional(
      v.pipe(
        v.array(integer(1, 100, "a whole percentage")),
        v.minLength(1, "expected at least one step"),
        v.check((s) => s.every((x, i) => i === 0 || x > s[i - 1]!), "expected steps that only go up"),
        v.check((s) => s[s.length - 1] === 100, "expected the last step to be 100 (the canary takes all the traffic, then it is promoted)"),
      ),
      [5, 25, 50, 100],
    ),
    "The canary's share of the traffic at each step, in %, going up to 100 (Flagger stepWeights). Default [5, 25, 50, 100].",
  ),
  interval: described(
    v.optional(seconds(1, 86400), 60),
    "Seconds each step lasts at least; a step passes once it has lasted this long with minRequests canary requests and no failed check (Flagger interval). Default 60.",
  ),
  minRequests: described(
    v.optional(integer(1, 1_000_000_000, "a number of requests"), 100),
    "Canary requests a step needs before any verdict: with fewer, it neither passes nor fails, it waits. Default 100.",
  ),
  maxErrorRate: described(
    v.optional(percent, 1),
    "Most 5xx answers the canary may give, in % of its requests in the step (Flagger request-success-rate, inverted). Default 1.",
  ),
  maxP99: described(
    v.optional(seconds(0.001, 3600)),
    'Longest p99 time to response headers the canary may have in the step, in seconds or "500ms" (Flagger request-duration). Absent: not checked.',
  ),
  maxErrorRateOverStable: described(
    v.optional(percent),
    "Most percentage points the canary's 5xx rate may exceed the stable groups' over the same step. Absent: not compared.",
  ),
  maxP99OverStable: described(
    v.optional(v.pipe(v.number(), v.minValue(1, (i) => `expected a ratio of 1 or more, got ${quote(i.input)}`))),
    "Largest ratio of the canary's p99 to the stable groups' over the same step (1.5: half as slow again). Absent: not compared.",
  ),
});

export type CanaryConfig = v.InferOutput<typeof CanarySchema>;
