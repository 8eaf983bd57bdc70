/**
 * Two balancer Workers sharing one Durable Object, on real workerd through
 * Miniflare, three processes in all:
 *
 * - the store: a Miniflare (its own workerd process) whose Worker hosts the
 *   `FulcrumState` class; the object's alarm is the one prober;
 * - two balancers, each its own Miniflare (its own workerd process, so each
 *   has its own log), binding that class across processes through
 *   Miniflare's dev registry (a directory each process registers its Workers
 *   in and watches for the others), as two Cloudflare isolates bind one object.
 *
 * Stopping the store disposes its process while both balancers keep running;
 * starting it registers a fresh one (empty storage, version 0) on the same
 * registry, where the balancers' proxies find it again. The processes run
 * under Node, as `fulcrum serve --runtime workerd` does (see workerd-process.ts
 * for why not inside Bun).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CACHE_TTL, sharedStateScenarios } from "./shared-state.scenarios.ts";
import { writeConfig } from "./launch.ts";
import { spawnWorkerdOnFreePort, type WorkerdProcess } from "./workerd-process.ts";

/** The Worker that hosts the object; the balancers name it as their binding's `scriptName`. */
const STATE_HOST = "fulcrum-state";
const HOST = "127.0.0.1";

sharedStateScenarios("cloudflare, two Workers on one Durable Object", async (config) => {
  const configPath = writeConfig({ ...config, state: { store: "cloudflare", prefix: "e2e", cacheTtl: CACHE_TTL } });
  const devRegistry = mkdtempSync(join(tmpdir(), "fulcrum-registry-"));

  let store: WorkerdProcess | undefined;
  const startStore = async () => {
    store = await spawnWorkerdOnFreePort({ configPath, host: HOST, name: STATE_HOST, devRegistry });
  };
  await startStore();
  // Each balancer is on its Miniflare's entry socket, which adds CF-Connecting-IP as Cloudflare's edge does.
  const balancers = await Promise.all(
    [0, 1].map(async (i) => spawnWorkerdOnFreePort({ configPath, host: HOST, name: `fulcrum-balancer-${i}`, devRegistry, stateHost: STATE_HOST })),
  );

  return {
    instances: [balancers[0]!, balancers[1]!],
    async stopStore() {
      await store?.stop();
      store = undefined;
    },
    startStore,
    async close() {
      await Promise.all([...balancers, ...(store ? [store] : [])].map((p) => p.stop()));
    },
  };
});
