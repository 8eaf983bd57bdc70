/**
 * The canaries a config asks for: each rule (or the config's default action)
 * whose weighted forward carries a `canary` block, with the groups on either
 * side, and the forward as a canary's weight makes it (the canary group at
 * its share, the stable groups sharing the rest in their configured
 * proportions), which the balancer lays over the rule's action as it does a
 * `fulcrum route` override.
 */
import { allRules, type Config } from "../config/schema.ts";
import type { ActionConfig, WeightedForwardConfig } from "../rules/schema.ts";
import type { CanaryConfig } from "./schema.ts";

export interface Plan {
  /** The rule's priority as text, or "default": the canary's name in commands and the store. */
  readonly rule: string;
  readonly config: CanaryConfig;
  readonly forward: WeightedForwardConfig;
  /** The stable side: the forward's other groups with their configured weights. */
  readonly stable: readonly { readonly group: string; readonly weight: number }[];
  /** The block and groups as text (the record's `plan`): a config that changes them starts the canary over. */
  readonly text: string;
}

export function plansOf(config: Config): Plan[] {
  const actions: [string, ActionConfig | undefined][] = [
    ...allRules(config).map((r) => [String(r.priority), r.action] as [string, ActionConfig]),
    ["default", config.defaultAction],
  ];
  return actions.flatMap(([rule, action]) => {
    const f = action?.forward;
    if (f === undefined || typeof f === "string" || f.canary === undefined) return [];
    const canary = f.canary;
    const stable = f.targetGroups.filter((g) => g.group !== canary.group);
    return [{ rule, config: canary, forward: f, stable, text: JSON.stringify({ canary, groups: f.targetGroups.map((g) => g.group) }) }];
  });
}

/** The plan's forward with the canary group at `weight` % and the stable groups sharing the rest. */
export function weighted(plan: Plan, weight: number): ActionConfig {
  const rest = 100 - weight;
  const total = plan.stable.reduce((n, g) => n + g.weight, 0);
  const shares = plan.stable.map((g) => ({ group: g.group, weight: total === 0 ? rest / plan.stable.length : (rest * g.weight) / total }));
  // Whole weights (ALB's); what rounding loses goes to the first stable group.
  const whole = shares.map((s) => ({ group: s.group, weight: Math.floor(s.weight) }));
  if (whole.length > 0) whole[0]!.weight += rest - whole.reduce((n, s) => n + s.weight, 0);
  return { forward: { ...plan.forward, targetGroups: [...whole, { group: plan.config.group, weight }] } };
}
