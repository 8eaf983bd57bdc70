/**
 * `state`: where a balancer keeps what it shares with other instances
 * (target health, passive failures, runtime overrides). One process needs
 * nothing (`memory`); several need a store they all reach: Redis for Bun/Node
 * fleets, Deno KV on Deno Deploy, a Durable Object (+ KV) on Cloudflare.
 */
import * as v from "valibot";
import { described, seconds } from "../config/units.ts";

const prefix = described(
  v.optional(
    v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/, "expected a key prefix of letters, digits, _ . : -")),
    "fulcrum",
  ),
  "Namespace of this balancer's keys in the store: instances with the same prefix share state; another prefix keeps a separate fleet apart. Default fulcrum.",
);
// Cloudflare's "read through with a short local cache".
const cacheTtl = described(
  v.optional(seconds(0.1, 60), 1),
  "How stale shared state may be on the request path, in seconds (0.1 to 60): instances re-read the store at least this often even without a change notification. Default 1.",
);

export const StateSchema = v.variant(
  "store",
  [
    v.strictObject({ store: described(v.literal("memory"), "In this process only: nothing is shared (one instance).") }),
    v.strictObject({
      store: described(v.literal("redis"), "A Redis server all instances reach (Bun and Node fleets)."),
      url: described(
        v.optional(v.pipe(v.string(), v.regex(/^rediss?:\/\/\S+$/, "expected a redis:// or rediss:// URL")), "redis://127.0.0.1:6379"),
        "redis://[user:password@]host:port[/db], or rediss:// for TLS. Default redis://127.0.0.1:6379.",
      ),
      prefix,
      cacheTtl,
    }),
    v.strictObject({
      store: described(v.literal("deno-kv"), "Deno KV (Deno, Deno Deploy)."),
      path: described(
        v.optional(v.pipe(v.string(), v.minLength(1, "expected a file path"))),
        "A local KV database file. Default: Deno Deploy's KV, or Deno's default local database.",
      ),
      prefix,
      cacheTtl,
    }),
    v.strictObject({
      store: described(v.literal("cloudflare"), "A Durable Object (Cloudflare Workers)."),
      durableObject: described(
        v.optional(v.string(), "FULCRUM_STATE"),
        "Name of the Durable Object namespace binding (wrangler.toml [[durable_objects.bindings]]). Default FULCRUM_STATE.",
      ),
      prefix,
      cacheTtl,
    }),
  ],
  'expected store "memory", "redis", "deno-kv" or "cloudflare"',
);

export type StateConfig = v.InferOutput<typeof StateSchema>;
export type StoreName = StateConfig["store"];
