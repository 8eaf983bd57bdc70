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

/** The per-target connection limit, for a group or one of its targets. */
export const maxConnections = (scope: string) =>
  described(
    v.optional(integer(1, 1_000_000, "a number of requests")),
    `Most requests (and WebSockets) in flight at ${scope} at once, across the host's workers (nginx max_conns, Envoy max_requests); a target at its limit is not picked, and a request no target can take waits in the group's queue or gets 503. Absent: no limit.`,
  );

/** The connection-limit keys of a target group (config/schema.ts spreads them in). */
export const limitEntries = {
  maxConnections: maxConnections("each target of the group (a target's own maxConnections wins)"),
  queue: described(
    v.optional(
      v.strictObject({
        size: described(v.optional(integer(0, 100_000, "a number of requests"), 100), "Most requests waiting at once; more get 503 at once. Default 100."),
        timeout: described(
          v.optional(seconds(0.001, 3600), 60),
          "Seconds a request waits for a slot before it gets 503 (nginx Plus queue timeout=). Default 60.",
        ),
      }),
    ),
    "With maxConnections: requests that find every target at its limit wait here, first come first served (nginx Plus queue). Absent: they get 503 at once.",
  ),
};
