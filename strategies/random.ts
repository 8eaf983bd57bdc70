/**
 * `random`: weighted random among the eligible targets (nginx `random`,
 * HAProxy `random(1)`, Envoy RANDOM, ALB `weighted_random`, Cloudflare
 * `random`). Randomness comes from `ctx.random()` only, so a seeded context
 * makes it reproducible. O(1) expected per pick (alias table + rejection,
 * see sampler.ts).
 */
import type { Strategy, StrategyTarget } from "./types.ts";
import type { StrategyOptionsInput } from "./options.ts";
import { WeightedSampler } from "./sampler.ts";

export function random(targets: readonly StrategyTarget[], _options: StrategyOptionsInput = {}): Strategy {
  const sampler = new WeightedSampler(targets.map((t) => t.weight));
  return { pick: (ctx) => sampler.pick(ctx) };
}
