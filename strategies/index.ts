/**
 * The strategy registry. The core validates the configured name with
 * `v.picklist(strategyNames)` (so an unknown name lists the valid ones) and
 * builds a strategy with `createStrategy` whenever a target set changes; the
 * backup list, if any, gets its own strategy (nginx semantics).
 */
import type { Strategy, StrategyTarget } from "./types.ts";
import type { StrategyOptions, StrategyOptionsInput } from "./options.ts";
import { weightedRoundRobin } from "./weighted_round_robin.ts";
import { leastConnections } from "./least_connections.ts";
import { leastRequest } from "./least_request.ts";
import { random } from "./random.ts";
import { ipHash } from "./ip_hash.ts";
import { hash } from "./hash.ts";
import { latencyAware } from "./latency_aware.ts";

export type { AttemptOutcome, PickContext, Strategy, StrategyTarget } from "./types.ts";
export type { StrategyOptions, StrategyOptionsInput } from "./options.ts";
export { strategyDefaults, strategyOptionEntries } from "./options.ts";

/** Every factory accepts partial options; missing ones take `strategyDefaults`. */
export type StrategyFactory = (targets: readonly StrategyTarget[], options: StrategyOptions) => Strategy;

export const strategies = {
  // Weighted, as nginx's and HAProxy's round robin are (nginx smooth WRR); equal weights rotate.
  round_robin: weightedRoundRobin,
  // The same strategy under the name earlier configs used.
  weighted_round_robin: weightedRoundRobin,
  least_connections: leastConnections,
  least_request: leastRequest,
  random,
  ip_hash: ipHash,
  hash,
  latency_aware: latencyAware,
} as const satisfies Record<string, StrategyFactory>;

export type StrategyName = keyof typeof strategies;

export const strategyNames = Object.keys(strategies) as [StrategyName, ...StrategyName[]];

export function createStrategy(
  name: StrategyName,
  targets: readonly StrategyTarget[],
  options: StrategyOptionsInput = {},
): Strategy {
  const factory = strategies[name];
  if (factory === undefined) throw new TypeError(`unknown strategy "${name}", expected one of: ${strategyNames.join(", ")}`);
  return factory(targets, options);
}
