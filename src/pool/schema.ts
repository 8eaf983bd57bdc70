/** The target-group keys the pool owns: failover to another group (failover.ts), spread into the config schema. */
import * as v from "valibot";
import { described, integer, NAME, quote, seconds } from "../config/units.ts";

/** The failover keys of a target group (config/schema.ts spreads them in). */
export const failoverEntries = {
  fallbackGroup: described(
    v.optional(v.pipe(v.string(), v.regex(NAME, (i) => `expected a target group's name, got ${quote(i.input)}`))),
    "The target group that takes this group's traffic while fewer than minHealthy of its targets are available (Cloudflare fallback_pool). Absent: no failover.",
  ),
  minHealthy: described(
    v.optional(integer(1, 1000, "a number of targets"), 1),
    "With fallbackGroup: fewer available targets than this sends the traffic to the fallback group (Cloudflare minimum_origins). Default 1.",
  ),
  failbackDelay: described(
    v.optional(seconds(0, 3600), 10),
    "Seconds the group must have had minHealthy available targets without a break before its traffic comes back from the fallback group. Default 10.",
  ),
};
