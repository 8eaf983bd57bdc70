/**
 * The isolate side of the Cloudflare store: every operation goes to the one
 * Durable Object named by `state.prefix` (src/state/durable-object.ts), which
 * is the single writer. `load()` answers from a local copy younger than
 * `cacheTtl`, as Cloudflare recommends for read-mostly state in front of a
 * Durable Object, so N requests per second cost at most one round trip per
 * TTL per isolate; compare-and-set, leases and reports always go to the object.
 *
 * Every call rejects within `timeoutMs` when the object throws, is being
 * reset, or does not answer, so the balancer falls back to its last known
 * state (fail static) instead of waiting on storage.
 */
import type { StateConfig } from "./schema.ts";
import { BaseStateStore } from "./store-base.ts";
import { type ChangeEvent, dataOf, frozenSnapshot, type JsonValue, reportJson, type Snapshot, type SnapshotData, wellFormedEvents } from "./store.ts";

/** The operations isolates send (POST `https://fulcrum-state/<op>` with the JSON body). */
export interface StateProtocol {
  load: { request: Record<string, never>; response: { snapshot: Snapshot } };
  /** `current` is the stored snapshot after the attempt, so a loser retries on fresh data without another round trip. */
  cas: { request: { expectedVersion: number; data: SnapshotData }; response: { written: Snapshot | null; current: Snapshot } };
  acquire: { request: { name: string; holder: string; ttlMs: number }; response: { acquired: boolean } };
  release: { request: { name: string; holder: string }; response: Record<string, never> };
  event: { request: { event: ChangeEvent }; response: Record<string, never> };
  events: { request: { limit: number }; response: { events: ChangeEvent[] } };
  report: { request: { topic: string; instance: string; value: JsonValue; ttlMs: number }; response: Record<string, never> };
  reports: { request: { topic: string }; response: { reports: Record<string, JsonValue> } };
}
export type StateOp = keyof StateProtocol;

export type CloudflareStateConfig = Extract<StateConfig, { store: "cloudflare" }>;

/** The parts of workerd's `DurableObjectNamespace` used here. */
export interface DurableObjectNamespaceLike {
  idFromName(name: string): unknown;
  get(id: unknown): { fetch(input: string, init?: RequestInit): Promise<Response> };
}

export interface CloudflareStoreOptions {
  /** Wall-clock epoch ms for the local copy's age. Default `Date.now`. */
  readonly now?: () => number;
  /** How long a call may wait for the Durable Object (ms). Default 2000. */
  readonly timeoutMs?: number;
  /** Called when a subscriber throws (a subscriber never breaks a read). Default: ignore. */
  readonly onSubscriberError?: (error: unknown) => void;
}

const isNamespace = (x: unknown): x is DurableObjectNamespaceLike =>
  typeof x === "object" && x !== null && typeof (x as DurableObjectNamespaceLike).idFromName === "function" &&
  typeof (x as DurableObjectNamespaceLike).get === "function";

/** Snapshots arrive as parsed JSON: freeze them like every store does (an older object's may carry fields no longer used). */
const freeze = (s: Snapshot): Snapshot => frozenSnapshot(s, s.version, s.updatedAt);

export class CloudflareStateStore extends BaseStateStore {
  private readonly namespace: DurableObjectNamespaceLike;
  private readonly now: () => number;
  private readonly timeoutMs: number;
  private readonly ttlMs: number;
  /** The newest snapshot seen and when it was fetched from the object. */
  private local: { snapshot: Snapshot; fetchedAt: number } | undefined;

  constructor(
    private readonly config: CloudflareStateConfig,
    env: Readonly<Record<string, unknown>>,
    options: CloudflareStoreOptions = {},
  ) {
    super(options.onSubscriberError);
    const binding = env[config.durableObject];
    if (!isNamespace(binding)) {
      throw new Error(
        `state.durableObject: expected a Durable Object namespace binding named ${
          JSON.stringify(config.durableObject)
        } (wrangler.toml [[durable_objects.bindings]]), got ${binding === undefined ? "no such binding" : typeof binding}`,
      );
    }
    this.namespace = binding;
    this.now = options.now ?? Date.now;
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.ttlMs = config.cacheTtl * 1000;
  }

  async load(): Promise<Snapshot> {
    this.assertOpen();
    if (this.local && this.now() - this.local.fetchedAt < this.ttlMs) return this.local.snapshot;
    // Aged from when the read was sent: the core polls every cacheTtl from the start of its previous
    // poll, so a copy stamped on arrival would still look fresh to the next poll (2 x cacheTtl stale).
    const sentAt = this.now();
    const { snapshot } = await this.call("load", {});
    return this.offer(snapshot, false, sentAt);
  }

  async compareAndSet(expectedVersion: number, next: SnapshotData): Promise<Snapshot | undefined> {
    this.assertOpen();
    const data = dataOf(next);
    const { written, current } = await this.call("cas", { expectedVersion, data });
    // On a refusal `current` is what won: keeping it lets update()'s next load retry on fresh data.
    // Versions only grow in one object, so a refusal below `expectedVersion` means the object lost
    // its storage (a restarted local workerd): our copy is then stale whatever its version, and
    // keeping it would lose every compare-and-set from now on.
    this.offer(current, !written && current.version < expectedVersion);
    return written ? freeze(written) : undefined;
  }

  async tryAcquireLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    this.assertOpen();
    return (await this.call("acquire", { name, holder, ttlMs })).acquired;
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    this.assertOpen();
    await this.call("release", { name, holder });
  }

  async appendEvent(event: ChangeEvent): Promise<void> {
    this.assertOpen();
    await this.call("event", { event });
  }

  async recentEvents(limit: number): Promise<ChangeEvent[]> {
    this.assertOpen();
    return wellFormedEvents((await this.call("events", { limit })).events);
  }

  async report(topic: string, instance: string, value: JsonValue, ttlMs: number): Promise<void> {
    this.assertOpen();
    // Checked here too: the object's refusal would come back as a bare message, not StateReportTooLargeError.
    reportJson(topic, instance, value, ttlMs);
    await this.call("report", { topic, instance, value, ttlMs });
  }

  async reports(topic: string): Promise<Record<string, JsonValue>> {
    this.assertOpen();
    return (await this.call("reports", { topic })).reports;
  }

  protected override dispose(): void {
    this.local = undefined;
  }

  /**
   * Keep the newer of the local copy and `received` (refreshing its age), and
   * tell subscribers about a newer one. Newer is a higher version or a later
   * write, as in SnapshotCache: an object that lost its storage counts from 0
   * again with later `updatedAt`s. `reset` takes `received` whatever it is.
   */
  private offer(received: Snapshot, reset = false, fetchedAt = this.now()): Snapshot {
    const local = this.local?.snapshot;
    if (local && !reset && received.version <= local.version && received.updatedAt <= local.updatedAt) {
      // Same version: the copy is confirmed fresh. Older (a reply that lost a race with a newer one): keep the newer.
      this.local = { snapshot: local, fetchedAt };
      return local;
    }
    const snapshot = freeze(received);
    this.local = { snapshot, fetchedAt };
    this.subscribers.deliver(snapshot);
    return snapshot;
  }

  /**
   * One request to the object. A fresh stub per call: Cloudflare advises a new
   * stub after an exception (a broken stub keeps failing), and stubs are cheap.
   */
  private async call<K extends StateOp>(op: K, body: StateProtocol[K]["request"]): Promise<StateProtocol[K]["response"]> {
    const what = `durable object ${this.config.durableObject} (${this.config.prefix})`;
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        abort.abort();
        reject(new Error(`${what} did not answer ${op} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
    });
    const exchange = (async () => {
      const stub = this.namespace.get(this.namespace.idFromName(this.config.prefix));
      const res = await stub.fetch(`https://fulcrum-state/${op}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
        signal: abort.signal,
      });
      const text = await res.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        throw new Error(`${what} answered ${op} with ${res.status} and no JSON: ${text.slice(0, 200)}`);
      }
      if (!res.ok) throw new Error(`${what} refused ${op} (${res.status}): ${(json as { error?: string }).error ?? text.slice(0, 200)}`);
      return json as StateProtocol[K]["response"];
    })();
    // Whichever loses the race must not surface as an unhandled rejection.
    exchange.catch(() => {});
    try {
      return await Promise.race([exchange, timeout]);
    } catch (error) {
      if (error instanceof Error && error.message.startsWith(what)) throw error;
      throw new Error(`${what}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }
}
