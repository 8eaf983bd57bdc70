/** The `rateLimit` block of a rule or of the whole config (limiter.ts), spread into the rule and config schemas. */
import * as v from "valibot";
import { described, integer, seconds } from "../config/units.ts";

const keyName = (what: string) => described(v.pipe(v.string(), v.nonEmpty(`expected a ${what} name`)), `Name of the ${what} whose value is the key.`);

/** What a request is counted by: each value gets a bucket of its own. */
export const RateLimitKeySchema = v.variant("source", [
  v.strictObject({ source: described(v.literal("client_ip"), "The client's address (after trusted-proxy handling).") }),
  v.strictObject({
    source: described(v.literal("header"), "A request header's value (an API key); a request without it is counted by its client's address."),
    name: keyName("header"),
  }),
  v.strictObject({
    source: described(v.literal("cookie"), "A cookie's value (a session); a request without it is counted by its client's address."),
    name: keyName("cookie"),
  }),
  v.strictObject({ source: described(v.literal("path"), "The request path (without the query): a limit per URL, whoever asks.") }),
]);

export const RateLimitSchema = v.strictObject({
  requests: described(integer(1, 1_000_000_000, "a number of requests"), "Requests allowed per `per` seconds for each key: the rate its bucket refills at."),
  per: described(v.optional(seconds(0.001, 86400), 1), "The period of `requests`, in seconds. Default 1."),
  burst: described(
    v.optional(integer(1, 1_000_000_000, "a number of requests")),
    "The bucket's size: requests a key may make at once after being idle (Envoy max_tokens, nginx limit_req burst). Default: `requests`.",
  ),
  key: described(v.optional(RateLimitKeySchema, { source: "client_ip" }), "What a request is counted by. Default: the client's address."),
  shared: described(
    v.optional(v.boolean(), false),
    "Count across every instance (and worker) sharing the state store: each tells the others what its keys used, every syncInterval, never on a request. Default false: each process counts alone.",
  ),
  syncInterval: described(v.optional(seconds(0.1, 60), 1), "With shared: seconds between two exchanges of counts through the store. Default 1."),
  maxKeys: described(
    v.optional(integer(100, 10_000_000, "a number of keys"), 100_000),
    "Most keys counted at once; past it the least recently seen is forgotten (it starts again with a full bucket). Default 100000.",
  ),
});

export type RateLimitConfig = v.InferOutput<typeof RateLimitSchema>;
export type RateLimitKeyConfig = v.InferOutput<typeof RateLimitKeySchema>;
