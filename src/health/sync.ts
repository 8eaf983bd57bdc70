/**
 * Health shared between balancer instances through a state store (issue #6).
 *
 * - The instance holding a group's probe lease publishes its active-check
 *   verdicts (`groups[g].targets[url]`: state, since, lastProbe); every other
 *   instance applies them instead of probing, so N instances send one probe
 *   per target per interval, not N (envoy#10498, haproxy helm-charts#187).
 * - A passive failure (nginx max_fails, Envoy ejection) seen by one instance
 *   is published as `downUntil`; the others keep the target out until then.
 * - Fail static (Envoy): when the store stops answering, each instance keeps
 *   its last snapshot, probes on its own, logs the outage once and logs the
 *   recovery once; requests never wait on or fail because of the store.
 *
 * Snapshot times are wall-clock epoch ms (comparable between machines);
 * tables use the platform's monotonic ms, converted at the boundary.
 */
import type { Platform } from "../platform.ts";
import type { HealthCheckConfig } from "./schema.ts";
import type { HealthTable } from "./table.ts";
import type { SnapshotCache } from "../state/cache.ts";
import { groupDraft, own, type Snapshot, type StateStore, type TargetRecord } from "../state/store.ts";

/** A target group as the health checks see it (pool/group.ts is one). */
export interface CheckedGroup {
  readonly name: string;
  /** In the health table's order. */
  readonly targets: ReadonlyArray<{ readonly url: string }>;
  readonly health: HealthTable;
  readonly config: { readonly healthCheck?: HealthCheckConfig | undefined };
}

/**
 * Logs a store outage once and its end once, never per call. Reads and
 * writes are tracked apart: a store can fail one and not the other (a Deno KV
 * file another process holds the write lock on still reads), and the outage
 * ends only when both work again, so it is not logged as flapping.
 */
export class StoreLink {
  private readonly failing = new Set<"read" | "write">();
  constructor(private readonly log: (line: string) => void, private readonly what: string) {}

  get reachable(): boolean {
    return this.failing.size === 0;
  }

  ok(kind: "read" | "write"): void {
    if (!this.failing.delete(kind) || this.failing.size > 0) return;
    this.log(`state: ${this.what} reachable again; shared health resumed`);
  }

  failed(kind: "read" | "write", error: unknown): void {
    const wasReachable = this.failing.size === 0;
    this.failing.add(kind);
    if (!wasReachable) return;
    const detail = error instanceof Error ? error.message : String(error);
    this.log(`state: ${this.what} unreachable (${kind}: ${detail}); serving on last known state and probing locally (logged once until it is back)`);
  }

  /** Run a store call; resolves undefined (and marks that kind of call failing) when it fails. */
  async call<T>(kind: "read" | "write", op: () => Promise<T>): Promise<T | undefined> {
    try {
      const result = await op();
      this.ok(kind);
      return result;
    } catch (error) {
      this.failed(kind, error);
      return undefined;
    }
  }
}

export interface HealthSyncOptions {
  readonly groups: Iterable<CheckedGroup>;
  readonly store: StateStore;
  readonly cache: SnapshotCache;
  readonly link: StoreLink;
  readonly platform: Pick<Platform, "now" | "log">;
  /** Wall-clock epoch ms (injected for tests). */
  readonly wallNow?: () => number;
}

export class HealthSync {
  private readonly groups: CheckedGroup[];
  private readonly wallNow: () => number;
  /** Newest probe time (wall ms) this instance knows per target, local or shared: an older record never overrides it. */
  private readonly knownProbeAt = new Map<string, number>();
  /** Passive holds already published, so a transition is written once. */
  private readonly published = new Map<string, number>();
  /** Set while applying a snapshot, so transitions it causes are not published back. */
  private applying = false;
  private readonly unsubscribe: (() => void)[] = [];

  constructor(private readonly options: HealthSyncOptions) {
    this.groups = [...options.groups];
    this.wallNow = options.wallNow ?? Date.now;
    for (const group of this.groups) {
      this.unsubscribe.push(
        group.health.onTransition((t) => {
          if (!this.applying && (t.to === "unhealthy" || t.to === "ejected")) void this.publishPassive(group, t.index);
        }),
      );
    }
    this.unsubscribe.push(options.cache.onChange((s) => this.apply(s)));
  }

  /** Stop following the store and the tables (a new config's checks take over). */
  close(): void {
    for (const off of this.unsubscribe.splice(0)) off();
  }

  /** Remember a local probe result's time (so a stale shared record cannot undo it). */
  noteLocalProbe(group: CheckedGroup, i: number): void {
    this.knownProbeAt.set(keyOf(group, i), this.wallNow());
  }

  /** The probe lease holder publishes the group's verdicts after a round. */
  async publishVerdicts(group: CheckedGroup): Promise<void> {
    const now = this.options.platform.now();
    const wall = this.wallNow();
    const records: Record<string, TargetRecord> = {};
    group.targets.forEach((target, i) => {
      const s = group.health.status(i, now);
      const probe = s.lastProbe;
      records[target.url] = {
        state: s.activeHealthy ? "healthy" : "unhealthy",
        since: wall - (now - s.since),
        ...(probe ? { lastProbe: { ok: probe.ok, detail: probe.detail, at: wall - (now - probe.at) } } : {}),
      };
    });
    await this.options.link.call("write", () =>
      this.options.store.update((d) => {
        const g = groupDraft(d, group.name);
        for (const [url, rec] of Object.entries(records)) g.targets[url] = { ...g.targets[url], ...rec };
      }));
  }

  /** Share a passive hold (nginx fail window or an ejection) so other instances skip the target too. */
  private async publishPassive(group: CheckedGroup, i: number): Promise<void> {
    const now = this.options.platform.now();
    const s = group.health.status(i, now);
    const untilMono = Math.max(s.downUntil ?? -Infinity, s.ejectedUntil ?? -Infinity);
    if (!Number.isFinite(untilMono)) return;
    const until = Math.round(this.wallNow() + (untilMono - now));
    const key = keyOf(group, i);
    if ((this.published.get(key) ?? 0) >= until) return;
    this.published.set(key, until);
    const url = group.targets[i]!.url;
    await this.options.link.call("write", () =>
      this.options.store.update((d) => {
        const g = groupDraft(d, group.name);
        const rec = (g.targets[url] ??= { state: "healthy", since: until });
        if ((rec.downUntil ?? 0) < until) rec.downUntil = until;
      }));
  }

  /** Apply a newer snapshot to the local tables (called by the cache on every new version). */
  apply(snapshot: Snapshot): void {
    const now = this.options.platform.now();
    const wall = this.wallNow();
    const toMono = (epoch: number) => now - (wall - epoch);
    this.applying = true;
    try {
      for (const group of this.groups) {
        const shared = own(snapshot.groups, group.name);
        if (!shared) continue;
        group.targets.forEach((target, i) => {
          const rec = own(shared.targets, target.url);
          if (!rec) return;
          const key = keyOf(group, i);
          const probe = rec.lastProbe;
          if (probe && (rec.state === "healthy" || rec.state === "unhealthy") && probe.at >= (this.knownProbeAt.get(key) ?? -Infinity)) {
            this.knownProbeAt.set(key, probe.at);
            group.health.applySharedVerdict(i, rec.state === "healthy", { ok: probe.ok, detail: probe.detail, at: toMono(probe.at) }, now);
          }
          if (rec.downUntil !== undefined && rec.downUntil > wall) group.health.applySharedDown(i, toMono(rec.downUntil), now);
        });
      }
    } finally {
      this.applying = false;
    }
  }
}

/** By URL, not index: a target keeps its key when a new config lists it elsewhere. */
function keyOf(group: CheckedGroup, i: number): string {
  return `${group.name}\u0000${group.targets[i]!.url}`;
}
