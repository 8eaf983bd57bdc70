/** The shared-state stores this runtime can open (`state.store`); memory is always available. */
import type { StateOpeners } from "../../state/open.ts";
import { RedisStateStore } from "../../state/redis.ts";
import { DEFAULT_CONNECT_TIMEOUT_MS } from "../server/redis-connect.ts";
import { openNodeRedis } from "./redis.ts";

export const stateOpeners: StateOpeners = {
  // The npm `redis` package (node-redis), loaded only when configured.
  redis: async (config) => new RedisStateStore(await openNodeRedis(config.url, { connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS }), { prefix: config.prefix }),
};
