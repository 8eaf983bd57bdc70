/**
 * The request path's view of a state store: the newest snapshot seen, read
 * synchronously. It is fed by the store's `subscribe` (push, where the store
 * can push) and by `refresh()`, which the runtime calls on a timer or after
 * its own writes (poll, for KV-style stores). An older snapshot arriving late
 * never replaces a newer one; a store that was reset is followed.
 */
import type { Snapshot, StateStore } from "./store.ts";

export class SnapshotCache {
  private latest: Snapshot | undefined;
  private readonly listeners = new Set<(s: Snapshot) => void>();
  private readonly unsubscribe: () => void;

  constructor(
    private readonly store: StateStore,
    /** A listener that throws is reported here; the others still get the snapshot. */
    private readonly onListenerError: (error: unknown) => void = () => {},
  ) {
    this.unsubscribe = store.subscribe((s) => this.offer(s));
  }

  /** The newest snapshot seen, or undefined before the first load. Never waits. */
  get(): Snapshot | undefined {
    return this.latest;
  }

  /** Fetch the store's current snapshot (background refresh). */
  async refresh(): Promise<Snapshot> {
    this.offer(await this.store.load());
    return this.latest!;
  }

  /** Called once per newer version (the lead re-applies overrides there). */
  onChange(cb: (s: Snapshot) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  close(): void {
    this.unsubscribe();
    this.listeners.clear();
  }

  /** A snapshot learnt of otherwise (the one a write of this instance produced): applied if newer. */
  offer(s: Snapshot): void {
    // Newer = a higher version, or a later write: a store that lost its data
    // (Redis restarted without persistence) counts versions from 1 again, and
    // its writes must not be ignored until they overtake the old count. A late
    // read of an older state has both a lower version and an earlier time.
    if (this.latest && s.version <= this.latest.version && s.updatedAt <= this.latest.updatedAt) return;
    this.latest = s;
    for (const cb of this.listeners) {
      try {
        cb(s);
      } catch (error) {
        this.onListenerError(error);
      }
    }
  }
}
