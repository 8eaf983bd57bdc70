/**
 * The request key that the hashing strategies consume: the client address
 * for `ip_hash`, the configured `hashKey` source for `hash` (nginx
 * `hash $key`, Envoy `hash_policy`, Caddy `uri_hash`/`header`/`cookie`).
 */
import { getCookie } from "hono/cookie";
import type { Context } from "hono";
import type { HashKeyConfig } from "../config/schema.ts";

export type KeyOf = (c: Context, clientIp: string | undefined) => string | undefined;

const none: KeyOf = () => undefined;
const byClientIp: KeyOf = (_c, ip) => ip;

export function keyExtractor(strategy: string, hashKey: HashKeyConfig): KeyOf {
  if (strategy === "ip_hash") return byClientIp;
  if (strategy !== "hash") return none;
  switch (hashKey.source) {
    case "client_ip":
      return byClientIp;
    case "header": {
      const name = hashKey.name;
      return (c) => c.req.raw.headers.get(name) ?? undefined;
    }
    case "cookie": {
      const name = hashKey.name;
      return (c) => getCookie(c, name);
    }
    case "query": {
      const name = hashKey.name;
      return (c) => c.req.query(name);
    }
    case "path":
      return (c) => c.req.path;
  }
}
