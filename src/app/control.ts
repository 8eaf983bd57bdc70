/**
 * Changing a running balancer: a rule's action (blue/green, canary weights),
 * a target's drain and its weight. Every change is written to the state
 * store and applied from the snapshot the write returns (here at once, on
 * every other instance sharing the store within one cacheTtl, or at once
 * where the store pushes changes), so all of them apply the same change.
 * Each change swaps what it affects in one assignment: a request sees the
 * old action or the new one, never a mix.
 */
import * as v from "valibot";
import type { Config } from "../config/schema.ts";
import type { TargetGroup } from "../pool/group.ts";
import type { PoolTarget } from "../pool/target.ts";
import { type ActionConfig, ActionSchema } from "../rules/schema.ts";
import type { SnapshotCache } from "../state/cache.ts";
import { groupDraft, type Snapshot, type StateStore } from "../state/store.ts";
import type { ActionOverrides } from "./generation.ts";

export interface Control {
  /** Replace the action of a rule (by priority) or of the default, e.g. `{ forward: "green" }`. */
  setAction(rule: number | "default", action: unknown): Promise<void>;
  /**
   * Drain one target (or stop draining it): no new requests or sessions; its
   * sticky clients and open WebSockets stay until the group's
   * `deregistrationDelay`, then move (ALB deregistration). Stopping a drain
   * returns it to service with slow start.
   */
  setTargetDrain(group: string, url: string, draining: boolean): Promise<void>;
  /** Override one target's weight (0 takes it out of rotation); `undefined` restores the config's. */
  setTargetWeight(group: string, url: string, weight: number | undefined): Promise<void>;
}

/** What control needs of the balancer. */
export interface Controlled {
  readonly config: Config;
  group(name: string): TargetGroup;
  readonly current: { readonly groups: ReadonlyMap<string, TargetGroup> };
  readonly state: StateStore;
  readonly snapshots: SnapshotCache;
}

function groupsOf(a: ActionConfig): string[] {
  return a.forward === undefined ? [] : typeof a.forward === "string" ? [a.forward] : a.forward.targetGroups.map((g) => g.group);
}

function targetOf(b: Controlled, group: string, url: string): { group: TargetGroup; target: PoolTarget } {
  const g = b.current.groups.get(group);
  if (!g) throw new Error(`unknown target group ${JSON.stringify(group)}, expected one of ${[...b.current.groups.keys()].join(", ")}`);
  const target = g.targets.find((t) => t.url === url);
  if (!target) throw new Error(`no target ${JSON.stringify(url)} in group ${group}, expected one of ${g.targets.map((t) => t.url).join(", ")}`);
  return { group: g, target };
}

export function createControl(b: Controlled): Control {
  return {
    async setAction(rule, input) {
      const parsed = v.safeParse(ActionSchema, input);
      if (!parsed.success) throw new Error(`invalid action: ${parsed.issues.map((i) => i.message).join("; ")}`);
      const names = [...b.current.groups.keys()];
      for (const g of groupsOf(parsed.output)) {
        if (!b.current.groups.has(g)) throw new Error(`unknown target group ${JSON.stringify(g)}, expected one of ${names.join(", ")}`);
      }
      if (rule !== "default" && !b.config.rules.some((r) => r.priority === rule)) throw new Error(`no rule with priority ${rule}`);
      // Persist first; the write's snapshot swaps the routers here (and the store's notification on every other instance).
      b.snapshots.offer(
        await b.state.update((d) => {
          d.actions[String(rule)] = input as never;
        }),
      );
    },

    async setTargetDrain(group, url, draining) {
      const g = targetOf(b, group, url).group;
      const deadline = Date.now() + g.config.deregistrationDelay * 1000;
      b.snapshots.offer(
        await b.state.update((d) => {
          const rec = groupDraft(d, group);
          if (draining) rec.drains[url] = { deadline };
          else delete rec.drains[url];
        }),
      );
    },

    async setTargetWeight(group, url, weight) {
      targetOf(b, group, url);
      if (weight !== undefined && !(Number.isInteger(weight) && weight >= 0 && weight <= 1000)) {
        throw new Error(`invalid weight ${weight}, expected an integer from 0 to 1000`);
      }
      b.snapshots.offer(
        await b.state.update((d) => {
          const rec = groupDraft(d, group);
          if (weight === undefined) delete rec.weights[url];
          else rec.weights[url] = weight;
        }),
      );
    },
  };
}

/** The rule action overrides of a snapshot (written by this or another instance); invalid ones are skipped and logged. */
export function actionOverridesOf(snapshot: Snapshot, log: (line: string) => void): ActionOverrides {
  const out = new Map<number | "default", ActionConfig>();
  for (const [key, raw] of Object.entries(snapshot.actions)) {
    const parsed = v.safeParse(ActionSchema, raw);
    if (!parsed.success) {
      log(`state: ignoring invalid action override for ${key}`);
      continue;
    }
    out.set(key === "default" ? "default" : Number(key), parsed.output);
  }
  return out;
}
