/**
 * Every target the balancer knows, by group and URL, across configs: the
 * long-lived side of the core (target.ts says what each one keeps). A config
 * asks the pool for its targets; the ones it shares with the config before get
 * the same PoolTarget back. When a config becomes current, the targets it no
 * longer lists are retired: they take no new requests, finish what runs on
 * them, and are dropped, metrics included, once nothing does.
 */
import type { Metrics } from "../metrics/registry.ts";
import { PoolTarget } from "./target.ts";
import { FailoverState } from "./failover.ts";
import { SlotQueue } from "./slot-queue.ts";
import type { Platform } from "../platform.ts";

export class TargetPool {
  /** group name -> target URL -> target. Maps, so no name a config uses can collide with Object.prototype. */
  private readonly byGroup = new Map<string, Map<string, PoolTarget>>();
  /** Each group's failover (failover.ts), by group name, across configs. */
  private readonly failovers = new Map<string, FailoverState>();
  /** Each group's queue for connection slots (slot-queue.ts), by group name, across configs. */
  private readonly queues = new Map<string, SlotQueue>();

  constructor(private readonly metrics: Pick<Metrics, "target" | "dropTarget">) {}

  /** The target `url` of `group`: the one the pool has, or a new one. */
  target(group: string, url: string): PoolTarget {
    let targets = this.byGroup.get(group);
    if (targets === undefined) this.byGroup.set(group, targets = new Map());
    let t = targets.get(url);
    if (t === undefined) {
      t = new PoolTarget(group, url, this.metrics.target(group, url));
      targets.set(url, t);
    }
    return t;
  }

  /** The failover state of `group`, kept while the balancer lives (a reload does not reset it). */
  failover(group: string): FailoverState {
    let f = this.failovers.get(group);
    if (f === undefined) this.failovers.set(group, f = new FailoverState());
    return f;
  }

  /**
   * The slot queue of `group` with this config's size and timeout. The requests waiting in it
   * stay there through a reload, and a slot freed under either config wakes them.
   */
  queue(group: string, size: number, timeoutMs: number, timer: Platform["timer"]): SlotQueue {
    const q = this.queues.get(group);
    if (q !== undefined && q.size === size && q.timeoutMs === timeoutMs) return q;
    const next = new SlotQueue(size, timeoutMs, timer, q);
    this.queues.set(group, next);
    return next;
  }

  /** `group`'s config has no queue now: requests still waiting in one get 503, and it goes. */
  dropQueue(group: string): void {
    this.queues.get(group)?.close();
    this.queues.delete(group);
  }

  /** Targets of `group` the pool holds now, listed or retiring. */
  targetsOf(group: string): readonly PoolTarget[] {
    return [...(this.byGroup.get(group)?.values() ?? [])];
  }

  /**
   * A config became current and `listed` are its targets: every other one is
   * unbound (it takes no new requests) and dropped as soon as nothing runs on
   * it. Returns the ones retired now.
   */
  retireAllBut(listed: ReadonlySet<PoolTarget>): PoolTarget[] {
    const retired: PoolTarget[] = [];
    for (const targets of this.byGroup.values()) {
      for (const t of targets.values()) {
        if (listed.has(t) || (t.binding === undefined && t.onIdle !== undefined)) continue;
        t.binding = undefined;
        t.onIdle = () => this.drop(t);
        retired.push(t);
        if (t.idle) this.drop(t);
      }
    }
    return retired;
  }

  private drop(t: PoolTarget): void {
    const targets = this.byGroup.get(t.group);
    if (targets?.get(t.url) !== t) return;
    targets.delete(t.url);
    if (targets.size === 0) this.byGroup.delete(t.group);
    t.onIdle = undefined;
    this.metrics.dropTarget(t.group, t.url);
  }
}
