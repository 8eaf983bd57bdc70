/**
 * The shared-state abstraction: what a balancer instance publishes and reads
 * beyond its config (target health, runtime weight and drain overrides,
 * canary splits, blue/green action flips). Shaped for stores shared between
 * instances (Cloudflare KV + Durable Objects, Deno KV, Redis), whose
 * operations are asynchronous and whose writers race:
 *
 * - Whole versioned snapshots, replaced by compare-and-set on the version, so
 *   concurrent writers retry instead of losing each other's updates (Deno KV
 *   `atomic().check()`, Redis `WATCH`/`MULTI`, a Durable Object's single
 *   thread). `update` wraps the retry loop.
 * - Reads on the request path never wait on the store: callers keep the last
 *   snapshot (see cache.ts) and refresh it from `subscribe` or a timer.
 * - Leases elect one prober per group across instances, so N balancers do
 *   not send N probes per interval (envoy#10498).
 * - Reports: one small JSON per instance and topic, with a TTL, that every
 *   instance reads and merges (shared rate limits, canary measurements).
 *   Each instance writes only its own, so reports never race.
 *
 * Snapshots are plain JSON (they cross process and network boundaries) and
 * their times are wall-clock epoch milliseconds, because monotonic clocks are
 * not comparable between machines.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export type DeepReadonly<T> = T extends (infer U)[] ? ReadonlyArray<DeepReadonly<U>>
  : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
  : T;

/** Health of one target as published by the instance that observed it. */
export interface TargetRecord {
  /** The active checks' verdict (what the probe lease holder shares); passive holds travel in `downUntil`. */
  state: "healthy" | "unhealthy";
  /** When `state` began (epoch ms). */
  since: number;
  lastProbe?: { ok: boolean; detail: string; at: number };
  /** Passive failure count (nginx `fails`), when passive state is shared. */
  fails?: number;
  /** Until when passive checks keep the target out (epoch ms), when shared. */
  downUntil?: number;
}

export interface GroupRecord {
  /** By target URL (stable across reloads, unlike indices). */
  targets: Record<string, TargetRecord>;
  /** Runtime weight overrides by target URL (0-1000, like the config's `weight`). */
  weights: Record<string, number>;
  /** Drain marks by target URL; `deadline` is when in-flight requests may be cut (epoch ms). */
  drains: Record<string, { deadline: number }>;
  /** Targets added at run time (`fulcrum target add`), by URL; absent in older snapshots. */
  added?: Record<string, AddedTarget>;
  /** Targets removed at run time (`fulcrum target remove`), by URL: they drain until `at` (epoch ms), then leave the group. */
  removed?: Record<string, { at: number }>;
}

/** A target an operator added to a group at run time: what the config file would say of it. */
export interface AddedTarget {
  name?: string;
  weight: number;
  backup: boolean;
}

/**
 * The mutable content of a snapshot (what `update` mutators edit). Snapshots
 * written by older versions may carry fields no longer listed here (a
 * `forwardWeights` that nothing read): stores read them through `dataOf` or
 * `frozenSnapshot`, which leave such fields out, and so never write them back.
 */
export interface SnapshotData {
  groups: Record<string, GroupRecord>;
  /** Blue/green flips: rule priority as a string, or "default" -> the action to use instead (config JSON). */
  actions: Record<string, JsonValue>;
  /**
   * Raised by a reload through the API where instances read one shared config
   * (Workers KV): each instance that sees it rise re-reads the config at once
   * instead of at its next refresh. Absent in older snapshots.
   */
  reloads?: number;
  /** Automatic canaries by rule (its priority, or "default"): where each stands. Absent in older snapshots. */
  canaries?: Record<string, CanaryRecord>;
}

/** One automatic canary as the instances share it (canary/controller.ts decides, every instance applies). */
export interface CanaryRecord {
  /** The canary block and groups it runs for, as text: a config that changes them starts it over. */
  plan: string;
  /** Index in the plan's steps. */
  step: number;
  /** The canary group's share of the traffic now, in %. */
  weight: number;
  state: CanaryState;
  /** When this step (or state) began, epoch ms. */
  since: number;
  /** Which measurement window the instances fill: a new one at every step and state change. */
  window: number;
  /** Why it stands where it does: the last decision, in words, with the numbers it was taken on. */
  reason?: string;
}

export type CanaryState = "progressing" | "paused" | "promoted" | "rolled back" | "aborted";

export interface SnapshotMeta {
  /** 0 for the empty store; +1 on every successful write. */
  version: number;
  /** Epoch ms of the write that produced this version (0 for the empty store). */
  updatedAt: number;
}

/** What readers get: frozen at run time, readonly in types. */
export type Snapshot = DeepReadonly<SnapshotData & SnapshotMeta>;

/** A mutator edits the draft in place or returns a replacement. It may run more than once (on conflicts), so it must not have side effects. */
export type Mutator = (draft: SnapshotData) => SnapshotData | void;

/**
 * One entry of the change log (`fulcrum events`): who changed what, when, on
 * which instance. Kept in the store so that every instance shows the same log.
 */
export interface ChangeEvent {
  /** Epoch ms. */
  at: number;
  /** The instance that made the change or saw it (health). */
  instance: string;
  /** Who asked: `api 127.0.0.1 (token ci)`, `SIGHUP`, `health checks`. */
  source: string;
  kind: ChangeKind;
  /** What it applies to: `rule 10`, `rule default`, `app/app1`, `config`. */
  subject: string;
  before?: JsonValue;
  after?: JsonValue;
  /** What the rest does not say (the overrides a reload kept and dropped). */
  detail?: string;
}

export const CHANGE_KINDS = ["route", "drain", "ready", "weight", "target add", "target remove", "reload", "restart", "health", "canary", "failover"] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

/** Entries the change log keeps (the oldest go first), like a bounded audit ring. */
export const CHANGE_LOG_SIZE = 200;

/** Entries read back from a store (JSON any version or tool may have written): the well-formed ones. */
export function wellFormedEvents(values: readonly unknown[]): ChangeEvent[] {
  return values.filter((e): e is ChangeEvent => {
    if (typeof e !== "object" || e === null) return false;
    const x = e as Record<string, unknown>;
    return typeof x.at === "number" && typeof x.instance === "string" && typeof x.source === "string" &&
      (CHANGE_KINDS as readonly unknown[]).includes(x.kind) && typeof x.subject === "string";
  });
}

export interface StateStore {
  /**
   * Other balancers read and write this store too, whatever the config's `state.store` says:
   * the worker processes of one host share the primary's store, memory included (`--workers`).
   */
  readonly shared?: boolean;
  /** The latest snapshot. Not for the request path: keep a local copy. */
  load(): Promise<Snapshot>;
  /**
   * Write `next` if the stored version is still `expectedVersion`; resolves to
   * the new snapshot (version + 1), or undefined when another writer won.
   */
  compareAndSet(expectedVersion: number, next: SnapshotData): Promise<Snapshot | undefined>;
  /** Load, mutate, compare-and-set, retried on conflict. Resolves to the snapshot written. */
  update(mutator: Mutator): Promise<Snapshot>;
  /** Called with every newer snapshot this store learns of. Returns an unsubscribe function. */
  subscribe(cb: (s: Snapshot) => void): () => void;
  /**
   * Take or renew the lease `name` for `ttlMs`: true when it was free,
   * expired, or already `holder`'s. Used to elect one prober per group.
   */
  tryAcquireLease(name: string, holder: string, ttlMs: number): Promise<boolean>;
  /** Give the lease up early (only its holder can). */
  releaseLease(name: string, holder: string): Promise<void>;
  /** Add an entry to the change log; beyond CHANGE_LOG_SIZE the oldest go. */
  appendEvent(event: ChangeEvent): Promise<void>;
  /** The newest `limit` entries of the change log, oldest first. */
  recentEvents(limit: number): Promise<ChangeEvent[]>;
  /**
   * Publish this instance's report under `topic`, replacing its previous one; it expires after `ttlMs` unless published again.
   * For what each instance counts on its own and every instance merges (tokens taken of a shared rate limit, canary
   * measurements): outside the snapshot, so instances do not race each other's compare-and-set on every count, and
   * gone on its own when its instance stops publishing. At most MAX_REPORT_BYTES of JSON: see `reportJson`.
   */
  report(topic: string, instance: string, value: JsonValue, ttlMs: number): Promise<void>;
  /**
   * Every unexpired report of `topic`, by instance (this one's own included). Expiry compares wall clocks (epoch
   * ms, as leases do), so keep `ttlMs` well above the clock skew between machines.
   */
  reports(topic: string): Promise<Record<string, JsonValue>>;
  close(): Promise<void>;
}

/** The largest report `report` takes, in bytes of its JSON text (UTF-8): what one instance may make every other read. */
export const MAX_REPORT_BYTES = 256 * 1024;

/** A report over MAX_REPORT_BYTES: refused by every store, nothing written. */
export class StateReportTooLargeError extends Error {
  constructor(topic: string, instance: string, bytes: number) {
    super(
      `state store: the report of ${JSON.stringify(instance)} under ${
        JSON.stringify(topic)
      } is ${bytes} bytes of JSON, over the ${MAX_REPORT_BYTES} a report may take`,
    );
    this.name = "StateReportTooLargeError";
  }
}

/**
 * The JSON text of a report, checked the same way by every store (and by the
 * Durable Object and the primary, which take reports from other processes):
 * StateReportTooLargeError over MAX_REPORT_BYTES, RangeError for an empty
 * topic or instance, a `ttlMs` that is not a positive number, or a value with
 * no JSON (undefined).
 */
export function reportJson(topic: string, instance: string, value: JsonValue, ttlMs: number): string {
  if (typeof topic !== "string" || topic === "") throw new RangeError(`report topic: expected a non-empty string, got ${JSON.stringify(topic)}`);
  if (typeof instance !== "string" || instance === "") throw new RangeError(`report instance: expected a non-empty string, got ${JSON.stringify(instance)}`);
  if (typeof ttlMs !== "number" || !(ttlMs > 0) || !Number.isFinite(ttlMs)) throw new RangeError(`report ttlMs: expected a positive number, got ${ttlMs}`);
  const json = JSON.stringify(value) as string | undefined;
  if (json === undefined) throw new RangeError(`report of ${JSON.stringify(instance)} under ${JSON.stringify(topic)}: the value has no JSON`);
  // UTF-8 takes at most three bytes per UTF-16 unit: encode only when the length alone cannot tell.
  const bytes = json.length * 3 <= MAX_REPORT_BYTES ? json.length : new TextEncoder().encode(json).length;
  if (bytes > MAX_REPORT_BYTES) throw new StateReportTooLargeError(topic, instance, bytes);
  return json;
}

export class StateConflictError extends Error {
  constructor(attempts: number) {
    super(`state store: update lost ${attempts} compare-and-set races in a row`);
    this.name = "StateConflictError";
  }
}

export class StateStoreClosedError extends Error {
  constructor() {
    super("state store is closed");
    this.name = "StateStoreClosedError";
  }
}

export function emptySnapshotData(): SnapshotData {
  return { groups: {}, actions: {} };
}

export function emptyGroup(): GroupRecord {
  return { targets: {}, weights: {}, drains: {}, added: {}, removed: {} };
}

/**
 * The value of a key an operator named (a target group, a target URL) in a
 * plain JSON object: own properties only, so a group called `toString` or
 * `hasOwnProperty` is never read off Object.prototype (it made every request
 * fail with a TypeError).
 */
export function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** A draft's record of group `name`, added when it has none. */
export function groupDraft(draft: SnapshotData, name: string): Required<GroupRecord> {
  const group = own(draft.groups, name) ?? (draft.groups[name] = emptyGroup());
  // Written by an older version: without the fields it did not know.
  group.added ??= {};
  group.removed ??= {};
  return group as Required<GroupRecord>;
}

/**
 * The data fields alone (no version or time), as stores write them: the one
 * place that lists them, so a field added to SnapshotData reaches every store.
 */
export function dataOf<T extends DeepReadonly<SnapshotData>>(s: T): Pick<T, keyof SnapshotData> {
  return {
    groups: s.groups,
    actions: s.actions,
    ...(s.reloads === undefined ? {} : { reloads: s.reloads }),
    ...(s.canaries === undefined ? {} : { canaries: s.canaries }),
  } as Pick<T, keyof SnapshotData>;
}

/**
 * A snapshot from data written by this or an older version (its data fields
 * only, see `dataOf`), frozen. The data is not copied: pass data nobody else
 * holds.
 */
export function frozenSnapshot(data: DeepReadonly<SnapshotData>, version: number, updatedAt: number): Snapshot {
  return deepFreeze({ ...(dataOf(data) as SnapshotData), version, updatedAt });
}

/** The snapshot of a store nobody has written to yet. */
export function emptySnapshot(): Snapshot {
  return frozenSnapshot(emptySnapshotData(), 0, 0);
}

/** A mutable deep copy of a snapshot's data (for mutators). */
export function draftOf(s: Snapshot): SnapshotData {
  return structuredClone(dataOf(s)) as SnapshotData;
}

/** Freeze a value deeply so that readers sharing one snapshot cannot corrupt it. */
export function deepFreeze<T>(value: T): DeepReadonly<T> {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value as DeepReadonly<T>;
}

/**
 * The optimistic-concurrency loop every store shares: load, apply, CAS,
 * retry on conflict. Bounded so that a hot key fails loudly instead of spinning.
 */
export async function updateWithRetry(
  store: Pick<StateStore, "load" | "compareAndSet">,
  mutator: Mutator,
  maxAttempts = 16,
): Promise<Snapshot> {
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const current = await store.load();
    const draft = draftOf(current);
    const next = mutator(draft) ?? draft;
    const written = await store.compareAndSet(current.version, next);
    if (written) return written;
  }
  throw new StateConflictError(maxAttempts);
}
