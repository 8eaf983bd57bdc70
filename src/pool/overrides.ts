/**
 * Runtime target overrides shared through the state store: weights (a
 * canary within a group, taking a target to 0) and drains (ALB
 * deregistration, started without a redeploy). Every instance applies the
 * same snapshot, so an operator's change on one reaches all of them within
 * one cacheTtl, or at once where the store pushes changes.
 *
 * A drain ends at its deadline for sticky clients and open WebSockets
 * (1012, so they reconnect elsewhere); removing it from the store puts the
 * target back into service with slow start. Drains written in the config
 * (`targets[].drain`) are left alone: only the config can undo those.
 */
import type { Platform } from "../platform.ts";
import type { Target, TargetGroup } from "../target-group.ts";
import { own, type Snapshot } from "./store.ts";

export class TargetOverrides {
  /** Drains this instance applied from the store: key -> cancel of its deadline timer. */
  private readonly applied = new Map<Target, { deadline: number; cancel: () => void }>();

  constructor(
    private readonly groups: ReadonlyMap<string, TargetGroup>,
    private readonly platform: Pick<Platform, "now" | "deadline" | "log">,
    /** Called at a store drain's deadline (close the target's WebSockets with 1012). */
    private readonly onDrainDeadline: (target: Target) => void,
    private readonly wallNow: () => number = Date.now,
  ) {}

  apply(snapshot: Snapshot): void {
    const now = this.platform.now();
    const wall = this.wallNow();
    for (const group of this.groups.values()) {
      const shared = own(snapshot.groups, group.name);
      if (group.applyWeights(shared?.weights ?? {})) {
        this.platform.log(`state: group=${group.name} weights now ${group.targets.map((t) => `${t.url}=${t.weight}`).join(" ")}`);
      }
      for (const target of group.targets) {
        const rec = shared && own(shared.drains, target.url);
        const drain = rec && Number.isFinite(rec.deadline) ? rec : undefined;
        const mine = this.applied.get(target);
        if (drain) {
          if (mine?.deadline === drain.deadline) continue;
          mine?.cancel();
          const at = now - (wall - drain.deadline);
          group.health.setDraining(target.index, at, now);
          const cancel = this.platform.deadline(Math.max(0, at - now), () => this.onDrainDeadline(target));
          this.applied.set(target, { deadline: drain.deadline, cancel });
        } else if (mine) {
          mine.cancel();
          this.applied.delete(target);
          if (!group.config.targets[target.index]!.drain) group.health.setDraining(target.index, undefined, now);
        }
      }
    }
  }
}
