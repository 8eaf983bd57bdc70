/**
 * Runtime target overrides shared through the state store: weights (a
 * canary within a group, taking a target to 0) and drains (ALB
 * deregistration, started without a redeploy). Every instance applies the
 * same snapshot, so an operator's change on one reaches all of them within
 * one cacheTtl, or at once where the store pushes changes. Applied to the
 * current config's groups, and again to each new config's.
 *
 * A drain ends at its deadline for sticky clients and open WebSockets
 * (1012, so they reconnect elsewhere); removing it from the store puts the
 * target back into service with slow start. Drains written in the config
 * (`targets[].drain`) are left alone: only the config can undo those.
 */
import type { Platform } from "../platform.ts";
import { own, type Snapshot } from "../state/store.ts";
import type { TargetGroup } from "./group.ts";
import type { PoolTarget } from "./target.ts";

export class TargetOverrides {
  /** Drains this instance applied from the store: target -> its deadline (epoch ms) and the cancel of its timer. */
  private readonly applied = new Map<PoolTarget, { deadline: number; cancel: () => void }>();

  constructor(
    private readonly platform: Pick<Platform, "now" | "timer" | "log">,
    /** Called at a store drain's deadline (close the target's WebSockets with 1012). */
    private readonly onDrainDeadline: (target: PoolTarget) => void,
    private readonly wallNow: () => number = Date.now,
  ) {}

  apply(snapshot: Snapshot, groups: Iterable<TargetGroup>): void {
    const now = this.platform.now();
    const wall = this.wallNow();
    const seen = new Set<PoolTarget>();
    for (const group of groups) {
      for (const target of group.targets) seen.add(target);
      const shared = own(snapshot.groups, group.name);
      if (group.applyWeights(shared?.weights ?? {})) {
        this.platform.log(`state: group=${group.name} weights now ${group.targets.map((t) => `${t.url}=${t.weight}`).join(" ")}`);
      }
      group.targets.forEach((target, i) => {
        const rec = shared && own(shared.drains, target.url);
        const drain = rec && Number.isFinite(rec.deadline) ? rec : undefined;
        const mine = this.applied.get(target);
        if (drain) {
          if (mine?.deadline === drain.deadline && target.drainedBy === "store") return;
          mine?.cancel();
          const at = now - (wall - drain.deadline);
          group.health.setDraining(i, at, now);
          target.drainedBy = "store";
          const cancel = this.platform.timer(Math.max(0, at - now), () => this.onDrainDeadline(target));
          this.applied.set(target, { deadline: drain.deadline, cancel });
        } else if (mine) {
          mine.cancel();
          this.applied.delete(target);
          if (target.drainedBy === "store") {
            // The config's own drain, if it has one, stays.
            if (group.config.targets[i]!.drain) target.drainedBy = "config";
            else {
              group.health.setDraining(i, undefined, now);
              target.drainedBy = undefined;
            }
          }
        }
      });
    }
    // A target no group lists any more (removed, or gone with a reload) keeps no timer or entry here.
    for (const [target, mine] of this.applied) {
      if (seen.has(target)) continue;
      mine.cancel();
      this.applied.delete(target);
    }
  }
}
