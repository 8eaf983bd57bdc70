/**
 * The in-memory state store, the default: one process, nothing shared. It
 * keeps the full contract of the shared stores (versions, compare-and-set,
 * leases and reports with expiry, async methods) so that code written
 * against it works unchanged on KV, Durable Objects or Redis.
 *
 * It is also the Durable Object's register (durable-object.ts): started from
 * the snapshot the object stored, persisting every write of the snapshot and
 * the change log (leases and reports live in memory, as long as the object).
 * Compare-and-set checks and writes with no `await` in between, so nothing
 * can interleave with it on the object's single thread.
 */
import { BaseStateStore } from "./store-base.ts";
import {
  CHANGE_LOG_SIZE,
  type ChangeEvent,
  dataOf,
  emptySnapshot,
  frozenSnapshot,
  type JsonValue,
  reportJson,
  type Snapshot,
  type SnapshotData,
  wellFormedEvents,
} from "./store.ts";

export interface MemoryStoreOptions {
  /** Wall-clock epoch milliseconds (lease and report expiry, `updatedAt`). Default `Date.now`. */
  readonly now?: () => number;
  /** Called when a subscriber throws (a subscriber never breaks a write). Default: ignore. */
  readonly onSubscriberError?: (error: unknown) => void;
  /** The snapshot to start from, as read back from durable storage (it may come from an older version). Default: the empty store. */
  readonly stored?: Snapshot;
  /** Called with every snapshot written, before subscribers hear of it, to keep it durable. Default: nothing. */
  readonly persist?: (s: Snapshot) => void;
  /** The change log to start from, as read back from durable storage. Default: empty. */
  readonly storedEvents?: readonly unknown[];
  /** Called with the whole change log after each entry added, to keep it durable. Default: nothing. */
  readonly persistEvents?: (events: readonly ChangeEvent[]) => void;
  /** Other balancers reach it too (a host's worker processes, through the primary that holds it). Default false. */
  readonly shared?: boolean;
}

export class MemoryStateStore extends BaseStateStore {
  private current: Snapshot;
  private readonly leases = new Map<string, { holder: string; expiresAt: number }>();
  /** By topic, then instance: the report's JSON text (parsed on each read, so no reader shares the writer's objects). */
  private readonly published = new Map<string, Map<string, { json: string; expiresAt: number }>>();
  private events: ChangeEvent[];
  private readonly now: () => number;
  readonly shared: boolean;

  constructor(private readonly options: MemoryStoreOptions = {}) {
    super(options.onSubscriberError);
    this.shared = options.shared ?? false;
    this.now = options.now ?? Date.now;
    const { stored } = options;
    // Stored snapshots come back from storage unfrozen, and hold whatever fields their writer knew.
    this.current = stored ? frozenSnapshot(stored, stored.version, stored.updatedAt) : emptySnapshot();
    this.events = wellFormedEvents(options.storedEvents ?? []).slice(-CHANGE_LOG_SIZE);
  }

  async load(): Promise<Snapshot> {
    this.assertOpen();
    return this.current;
  }

  /** The snapshot now, without waiting (the Durable Object's own reads). */
  get latest(): Snapshot {
    return this.current;
  }

  async compareAndSet(expectedVersion: number, next: SnapshotData): Promise<Snapshot | undefined> {
    this.assertOpen();
    if (this.current.version !== expectedVersion) return undefined;
    // Copy so that a caller still holding `next` cannot change the stored snapshot.
    const written = frozenSnapshot(structuredClone(dataOf(next)), expectedVersion + 1, this.now());
    this.current = written;
    this.options.persist?.(written);
    this.subscribers.deliver(written);
    return written;
  }

  async tryAcquireLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    this.assertOpen();
    return this.grantLease(name, holder, ttlMs, false);
  }

  /** Take the lease `name` whoever holds it: for a holder that always has the right (the Durable Object's own prober). */
  async takeLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    this.assertOpen();
    return this.grantLease(name, holder, ttlMs, true);
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    this.assertOpen();
    if (this.leases.get(name)?.holder === holder) this.leases.delete(name);
  }

  async appendEvent(event: ChangeEvent): Promise<void> {
    this.assertOpen();
    this.events.push(structuredClone(event));
    if (this.events.length > CHANGE_LOG_SIZE) this.events.splice(0, this.events.length - CHANGE_LOG_SIZE);
    this.options.persistEvents?.(this.events);
  }

  async recentEvents(limit: number): Promise<ChangeEvent[]> {
    this.assertOpen();
    return limit > 0 ? structuredClone(this.events.slice(-limit)) : [];
  }

  async report(topic: string, instance: string, value: JsonValue, ttlMs: number): Promise<void> {
    this.assertOpen();
    const json = reportJson(topic, instance, value, ttlMs);
    let reports = this.published.get(topic);
    if (!reports) this.published.set(topic, reports = new Map());
    reports.set(instance, { json, expiresAt: this.now() + ttlMs });
  }

  async reports(topic: string): Promise<Record<string, JsonValue>> {
    this.assertOpen();
    const reports = this.published.get(topic);
    if (!reports) return {};
    const now = this.now();
    const live: [string, JsonValue][] = [];
    for (const [instance, { json, expiresAt }] of reports) {
      if (now < expiresAt) live.push([instance, JSON.parse(json) as JsonValue]);
      else reports.delete(instance);
    }
    if (reports.size === 0) this.published.delete(topic);
    // fromEntries defines own properties: an instance named `__proto__` stays a key.
    return Object.fromEntries(live);
  }

  protected override dispose(): void {
    this.leases.clear();
    this.published.clear();
  }

  private grantLease(name: string, holder: string, ttlMs: number, force: boolean): boolean {
    const now = this.now();
    const lease = this.leases.get(name);
    if (!force && lease && lease.holder !== holder && now < lease.expiresAt) return false;
    this.leases.set(name, { holder, expiresAt: now + ttlMs });
    return true;
  }
}
