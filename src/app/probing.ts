/**
 * Active health checks for a config, with or without the rest of a balancer.
 * The balancer builds them for each config it serves; the Cloudflare Durable
 * Object, which serves no client traffic, builds only this to run the checks
 * from its alarm: the config's groups over a pool of their targets, their
 * health tables, and the checks, sharing verdicts through the store.
 */
import type { Config } from "../config/schema.ts";
import { HealthChecks } from "../health/checks.ts";
import { createMetrics } from "../metrics/registry.ts";
import type { Platform } from "../platform.ts";
import { TargetGroup } from "../pool/group.ts";
import { TargetPool } from "../pool/pool.ts";
import { errorDetail } from "../proxy/errors.ts";
import { SnapshotCache } from "../state/cache.ts";
import { MemoryStateStore } from "../state/memory.ts";
import type { StateStore } from "../state/store.ts";

/** The checks of `groups` as `config` sets them; shared through `store` unless the config keeps state in memory. */
export function healthChecksFor(
  config: Config,
  groups: Iterable<TargetGroup>,
  platform: Platform,
  store: StateStore,
  cache: SnapshotCache,
  instanceId: string,
): HealthChecks {
  const state = config.state;
  // A memory store is shared when a host's workers reach it through their primary (`--workers`): it pushes every change, so one second is only the fallback.
  const shared = state.store !== "memory"
    ? { cacheTtl: state.cacheTtl, what: `${state.store} store` }
    : store.shared
    ? { cacheTtl: 1, what: "primary's store" }
    : undefined;
  return new HealthChecks(groups, platform, shared && { store, cache, cacheTtlMs: shared.cacheTtl * 1000, instanceId, what: shared.what });
}

export interface Probing {
  readonly checks: HealthChecks;
  /** Resolves once the store's snapshot has been read (shared verdicts applied). */
  ready(): Promise<void>;
}

export function createProbing(config: Config, platform: Platform): Probing {
  const metrics = createMetrics({ now: platform.now });
  const pool = new TargetPool(metrics);
  const groups = Object.entries(config.targetGroups).map(([name, g]) => new TargetGroup(name, g, pool, platform, metrics, { stickiness: false }));
  for (const g of groups) g.activate(true);
  const store = platform.state ?? new MemoryStateStore();
  const cache = new SnapshotCache(store, (error) => platform.log(`state: applying a snapshot failed: ${errorDetail(error)}`));
  const checks = healthChecksFor(config, groups, platform, store, cache, crypto.randomUUID());
  return { checks, ready: () => cache.refresh().then(() => {}) };
}
