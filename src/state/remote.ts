/**
 * A state store reached through another process: how the worker processes of
 * one host (`--workers`) share the store their primary holds, whether that is
 * memory or a connection to Redis or Deno KV. Every call is a request over a
 * message channel (`Rpc`); the primary pushes each snapshot written, so a
 * change made through any worker, or the admin API, reaches every worker at
 * once. The request path never waits on it: balancers read a local snapshot
 * (cache.ts) as with any store.
 *
 * `storeCall` is the primary's side: one channel request answered from its store.
 */
import { BaseStateStore } from "./store-base.ts";
import { type ChangeEvent, dataOf, frozenSnapshot, type JsonValue, reportJson, type Snapshot, type SnapshotData, type StateStore } from "./store.ts";

/** A request/response channel to the process that holds the store, and the snapshots it pushes. */
export interface Rpc {
  request(op: string, args?: unknown): Promise<unknown>;
  onPush(kind: string, cb: (value: unknown) => void): void;
}

/** The push that carries each snapshot written to the primary's store. */
export const SNAPSHOT_PUSH = "state.snapshot";

type Wire = SnapshotData & { version: number; updatedAt: number };

const thaw = (s: Wire): Snapshot => frozenSnapshot(s, s.version, s.updatedAt);

export class RemoteStateStore extends BaseStateStore {
  readonly shared = true;

  constructor(private readonly rpc: Rpc, onSubscriberError?: (error: unknown) => void) {
    super(onSubscriberError);
    rpc.onPush(SNAPSHOT_PUSH, (s) => {
      if (!this.closed) this.subscribers.deliver(thaw(s as Wire));
    });
  }

  async load(): Promise<Snapshot> {
    this.assertOpen();
    return thaw((await this.rpc.request("state.load")) as Wire);
  }

  async compareAndSet(expectedVersion: number, next: SnapshotData): Promise<Snapshot | undefined> {
    this.assertOpen();
    const written = (await this.rpc.request("state.cas", { expectedVersion, data: dataOf(next) })) as Wire | null;
    return written === null ? undefined : thaw(written);
  }

  async tryAcquireLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    this.assertOpen();
    return (await this.rpc.request("state.lease", { name, holder, ttlMs })) === true;
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    this.assertOpen();
    await this.rpc.request("state.release", { name, holder });
  }

  async appendEvent(event: ChangeEvent): Promise<void> {
    this.assertOpen();
    await this.rpc.request("state.event", event);
  }

  async recentEvents(limit: number): Promise<ChangeEvent[]> {
    this.assertOpen();
    return (await this.rpc.request("state.events", { limit })) as ChangeEvent[];
  }

  async report(topic: string, instance: string, value: JsonValue, ttlMs: number): Promise<void> {
    this.assertOpen();
    // Checked here too: the primary's refusal would come back as a bare message, not StateReportTooLargeError.
    reportJson(topic, instance, value, ttlMs);
    await this.rpc.request("state.report", { topic, instance, value, ttlMs });
  }

  async reports(topic: string): Promise<Record<string, JsonValue>> {
    this.assertOpen();
    return (await this.rpc.request("state.reports", { topic })) as Record<string, JsonValue>;
  }
}

/** Answer one `state.*` request from a worker out of `store`; undefined when `op` is not one. */
export function storeCall(store: StateStore, op: string, args: unknown): Promise<unknown> | undefined {
  const a = (args ?? {}) as Record<string, unknown>;
  switch (op) {
    case "state.load":
      return store.load();
    case "state.cas":
      return store.compareAndSet(a.expectedVersion as number, a.data as SnapshotData).then((s) => s ?? null);
    case "state.lease":
      return store.tryAcquireLease(a.name as string, a.holder as string, a.ttlMs as number);
    case "state.release":
      return store.releaseLease(a.name as string, a.holder as string).then(() => null);
    case "state.event":
      return store.appendEvent(args as ChangeEvent).then(() => null);
    case "state.events":
      return store.recentEvents(a.limit as number);
    case "state.report":
      return store.report(a.topic as string, a.instance as string, a.value as JsonValue, a.ttlMs as number).then(() => null);
    case "state.reports":
      return store.reports(a.topic as string);
    default:
      return undefined;
  }
}
