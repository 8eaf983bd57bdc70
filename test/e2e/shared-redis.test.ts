/**
 * A Bun and a Node balancer sharing one real redis-server (Debian package),
 * started by the test on a free loopback port.
 */
import { CACHE_TTL, sharedStateScenarios } from "./shared-state.scenarios.ts";
import { startBalancer } from "./launch.ts";
import { startRedis } from "../redis-server.ts";

sharedStateScenarios("redis, one Bun and one Node instance", async (config) => {
  const redis = await startRedis();
  const withState = { ...config, state: { store: "redis", url: redis.url, prefix: "e2e", cacheTtl: CACHE_TTL } };
  const instances = await Promise.all([startBalancer("bun", withState), startBalancer("node", withState)]);
  return {
    instances: [instances[0], instances[1]],
    stopStore: () => redis.stop(),
    startStore: () => redis.restart(),
    async close() {
      await Promise.all(instances.map((i) => i.stop()));
      await redis.stop();
    },
  };
});
