/** The shared-state stores this runtime can open (`state.store`); memory is always available. */
import type { StateOpeners } from "../../state/open.ts";
import { RedisStateStore } from "../../state/redis.ts";
import { openBunRedis } from "./redis.ts";
import { DEFAULT_CONNECT_TIMEOUT_MS } from "../server/redis-connect.ts";

export const stateOpeners: StateOpeners = {
  // Bun's built-in client (no dependency).
  redis: async (config) => new RedisStateStore(await openBunRedis(config.url, { connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS }), { prefix: config.prefix }),
};
