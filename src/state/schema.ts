/**
 * `state`: where a balancer keeps what it shares with other instances
 * (target health, passive failures, runtime overrides). One process needs
 * nothing (`memory`); several need a store they all reach: Redis for Bun/Node
 * fleets, Deno KV on Deno Deploy, a Durable Object (+ KV) on Cloudflare.
 */
import * as v from "valibot";
import { seconds } from "../config/units.ts";

const prefix = v.optional(
  v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/, "expected a key prefix of letters, digits, _ . : -")),
  "fulcrum",
);
/**
 * How stale a snapshot may be on the request path (seconds): instances re-read
 * the store at least this often even when no change notification arrives, so
 * a change made elsewhere is seen within one TTL (Cloudflare's "read through
 * with a short local cache").
 */
const cacheTtl = v.optional(seconds(0.1, 60), 1);

export const StateSchema = v.variant(
  "store",
  [
    v.strictObject({ store: v.literal("memory") }),
    v.strictObject({
      store: v.literal("redis"),
      /** `redis://[user:password@]host:port[/db]`; `rediss://` for TLS. */
      url: v.optional(v.pipe(v.string(), v.regex(/^rediss?:\/\/\S+$/, "expected a redis:// or rediss:// URL")), "redis://127.0.0.1:6379"),
      prefix,
      cacheTtl,
    }),
    v.strictObject({
      store: v.literal("deno-kv"),
      /** A local KV file; absent = Deno Deploy's KV (or Deno's default local database). */
      path: v.optional(v.pipe(v.string(), v.minLength(1, "expected a file path"))),
      prefix,
      cacheTtl,
    }),
    v.strictObject({
      store: v.literal("cloudflare"),
      /** Durable Object namespace binding (wrangler.toml `[[durable_objects.bindings]]`). */
      durableObject: v.optional(v.string(), "FULCRUM_STATE"),
      prefix,
      cacheTtl,
    }),
  ],
  'expected store "memory", "redis", "deno-kv" or "cloudflare"',
);

export type StateConfig = v.InferOutput<typeof StateSchema>;
export type StoreName = StateConfig["store"];
