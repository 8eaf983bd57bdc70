/**
 * What every StateStore does the same way, whatever its backend: hand
 * snapshots to subscribers, refuse work once closed, and run `update` as the
 * compare-and-set loop of store.ts. A store extends `BaseStateStore` and
 * keeps only what is its own: how it compares and sets, holds leases and
 * reports, and learns of other writers (pub/sub, watch, polling).
 */
import {
  type ChangeEvent,
  type JsonValue,
  type Mutator,
  type Snapshot,
  type SnapshotData,
  type StateStore,
  StateStoreClosedError,
  updateWithRetry,
} from "./store.ts";

export type Subscriber = (s: Snapshot) => void;

/**
 * The subscribers of one store. A subscriber that throws breaks neither the
 * write or read that told it nor the subscribers after it: its error goes to
 * `onError` (a store option: logged or ignored).
 */
export class Subscribers {
  private readonly callbacks = new Set<Subscriber>();
  /** The newest version `deliverNewer` handed out. 0: the empty store is nothing new. */
  private newest = 0;

  constructor(private readonly onError: (error: unknown) => void = () => {}) {}

  get size(): number {
    return this.callbacks.size;
  }

  /** The newest version handed out by `deliverNewer`. */
  get delivered(): number {
    return this.newest;
  }

  /** Add `cb`; returns the function that removes it. */
  add(cb: Subscriber): () => void {
    this.callbacks.add(cb);
    return () => {
      this.callbacks.delete(cb);
    };
  }

  clear(): void {
    this.callbacks.clear();
  }

  /** Hand `s` to every subscriber, whatever its version (for stores that decide themselves what is news). */
  deliver(s: Snapshot): void {
    // A copy: a subscriber may unsubscribe (itself or another) while being told.
    for (const cb of [...this.callbacks]) {
      try {
        cb(s);
      } catch (error) {
        this.onError(error);
      }
    }
  }

  /**
   * Hand `s` to every subscriber if its version is newer than any handed out
   * so far: each version at most once, never an older one after a newer,
   * however reads, writes and notifications race.
   */
  deliverNewer(s: Snapshot): void {
    if (s.version <= this.newest) return;
    this.newest = s.version;
    this.deliver(s);
  }

  /** Count versions up to `version` as handed out (a store that knew of them before anyone listened). */
  markDelivered(version: number): void {
    this.newest = Math.max(this.newest, version);
  }
}

export abstract class BaseStateStore implements StateStore {
  protected readonly subscribers: Subscribers;
  protected closed = false;

  /** `onSubscriberError`: where the errors of subscribers that throw go. Default: ignore. */
  constructor(onSubscriberError?: (error: unknown) => void) {
    this.subscribers = new Subscribers(onSubscriberError);
  }

  abstract load(): Promise<Snapshot>;
  abstract compareAndSet(expectedVersion: number, next: SnapshotData): Promise<Snapshot | undefined>;
  abstract tryAcquireLease(name: string, holder: string, ttlMs: number): Promise<boolean>;
  abstract releaseLease(name: string, holder: string): Promise<void>;
  abstract appendEvent(event: ChangeEvent): Promise<void>;
  abstract recentEvents(limit: number): Promise<ChangeEvent[]>;
  abstract report(topic: string, instance: string, value: JsonValue, ttlMs: number): Promise<void>;
  abstract reports(topic: string): Promise<Record<string, JsonValue>>;

  update(mutator: Mutator): Promise<Snapshot> {
    return updateWithRetry(this, mutator);
  }

  subscribe(cb: Subscriber): () => void {
    this.assertOpen();
    return this.subscribers.add(cb);
  }

  /** Closing twice is fine: the second does nothing. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.subscribers.clear();
    await this.dispose();
  }

  /** What the store lets go of when it closes (connections, watches, leases), once. */
  protected dispose(): Promise<void> | void {}

  protected assertOpen(): void {
    if (this.closed) throw new StateStoreClosedError();
  }
}
