/**
 * The in-memory state store, the default: one process, nothing shared. It
 * keeps the full contract of the shared stores (versions, compare-and-set,
 * leases with expiry, async methods) so that code written against it works
 * unchanged on KV, Durable Objects or Redis.
 */
import {
  dataOf,
  deepFreeze,
  emptySnapshotData,
  StateStoreClosedError,
  updateWithRetry,
  type Mutator,
  type Snapshot,
  type SnapshotData,
  type StateStore,
} from "./store.ts";

export interface MemoryStoreOptions {
  /** Wall-clock epoch milliseconds (lease expiry, `updatedAt`). Default `Date.now`. */
  readonly now?: () => number;
  /** Called when a subscriber throws (a subscriber never breaks a write). Default: ignore. */
  readonly onSubscriberError?: (error: unknown) => void;
}

export class MemoryStateStore implements StateStore {
  private current: Snapshot;
  private readonly subscribers = new Set<(s: Snapshot) => void>();
  private readonly leases = new Map<string, { holder: string; expiresAt: number }>();
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly options: MemoryStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.current = deepFreeze({ ...emptySnapshotData(), version: 0, updatedAt: 0 });
  }

  async load(): Promise<Snapshot> {
    this.assertOpen();
    return this.current;
  }

  async compareAndSet(expectedVersion: number, next: SnapshotData): Promise<Snapshot | undefined> {
    this.assertOpen();
    if (this.current.version !== expectedVersion) return undefined;
    // Copy so that a caller still holding `next` cannot change the stored snapshot.
    const data = structuredClone(dataOf(next));
    const written: Snapshot = deepFreeze({ ...data, version: expectedVersion + 1, updatedAt: this.now() });
    this.current = written;
    for (const cb of [...this.subscribers]) {
      try {
        cb(written);
      } catch (error) {
        this.options.onSubscriberError?.(error);
      }
    }
    return written;
  }

  update(mutator: Mutator): Promise<Snapshot> {
    return updateWithRetry(this, mutator);
  }

  subscribe(cb: (s: Snapshot) => void): () => void {
    this.assertOpen();
    this.subscribers.add(cb);
    return () => this.subscribers.delete(cb);
  }

  async tryAcquireLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    this.assertOpen();
    const now = this.now();
    const lease = this.leases.get(name);
    if (lease && lease.holder !== holder && now < lease.expiresAt) return false;
    this.leases.set(name, { holder, expiresAt: now + ttlMs });
    return true;
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    this.assertOpen();
    if (this.leases.get(name)?.holder === holder) this.leases.delete(name);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.subscribers.clear();
    this.leases.clear();
  }

  private assertOpen(): void {
    if (this.closed) throw new StateStoreClosedError();
  }
}
