/**
 * The Deno KV state store (`state.store: "deno-kv"`): Deno Deploy isolates, or
 * Deno servers sharing one local KV file, share health and overrides.
 *
 * Layout under the configured prefix (the values, and why the snapshot is
 * JSON text in one value: deno-kv-values.ts):
 * - `[prefix, "snapshot"]` -> `{ version, updatedAt, data }`.
 * - `[prefix, "lease", name]` -> `{ holder, expiresAt }`.
 * - `[prefix, "events", at, id]` -> one change-log entry; the newest
 *   CHANGE_LOG_SIZE are kept (the writer trims after adding).
 * - `[prefix, "reports", topic, instance]` -> `{ expiresAt, text }`, one
 *   instance's report, with `expireIn` its TTL. A report over one value's
 *   limit (MAX_REPORT_BYTES is four times that) keeps the rest of its text at
 *   `[prefix, "report-parts", topic, instance, id, 1..n]`, written, and the
 *   replaced report's parts deleted, in the same atomic commit as its head.
 *   A part is never rewritten under the same `id`, so a reader that finds one
 *   missing knows the report was replaced since it read the head, and reads
 *   the head again.
 *
 * Compare-and-set is `atomic().check({ key, versionstamp })`: the versionstamp
 * of the entry we read must still be current when the write commits, so two
 * writers of the same version cannot both win.
 *
 * Fail static (issue #6): every call runs within `timeoutMs`; see call-deadline.ts.
 *
 * Watch: `kv.watch` sees writes made through this process (any handle on
 * the file) and, on Deno Deploy, writes from every isolate. On a local file
 * it does not see writes made by other processes (measured with Deno 2.9),
 * so the core's poll of `load()` every `cacheTtl` carries those; newer
 * snapshots learned by `load()` are delivered to subscribers as well.
 */
import { BaseStateStore } from "./store-base.ts";
import {
  CHANGE_LOG_SIZE,
  type ChangeEvent,
  type JsonValue,
  reportJson,
  type Snapshot,
  type SnapshotData,
  StateReportTooLargeError,
  wellFormedEvents,
} from "./store.ts";
import { CallDeadline } from "./call-deadline.ts";
import type { Kv, KvAtomicOperation, KvEntryMaybe, KvKey } from "./deno-kv-types.ts";
import {
  decodeSnapshot,
  leaseOf,
  reportOf,
  reportPieces,
  snapshotJson,
  StateSnapshotTooLargeError,
  type StoredLease,
  type StoredReport,
  type StoredSnapshot,
} from "./deno-kv-values.ts";

export type { Kv, KvAtomicOperation, KvEntryMaybe, KvKey } from "./deno-kv-types.ts";
export { DENO_KV_MAX_VALUE_BYTES, MAX_SNAPSHOT_BYTES, serializedStringBytes, StateSnapshotTooLargeError } from "./deno-kv-values.ts";

/**
 * Commits per call before giving up: a commit can fail without anyone having
 * changed what we checked (SQLite busy, see commit()), so a call reads
 * again and retries instead of reporting a lost race it did not lose.
 */
const COMMIT_ATTEMPTS = 8;
/** Cap of the random wait after a busy commit (ms): doubling from 1 ms, jittered so two writers stop colliding. */
const MAX_BUSY_BACKOFF_MS = 64;

export interface DenoKvStoreOptions {
  /** Key prefix (config `state.prefix`). Default "fulcrum". */
  readonly prefix?: string;
  /** Bound on every call, in ms, so a stuck database fails static instead of hanging. Default 2000. */
  readonly timeoutMs?: number;
  /** Wall-clock epoch ms (lease and report expiry, `updatedAt`). Default `Date.now`. */
  readonly now?: () => number;
  /** Uniform in [0, 1), for the backoff after a busy commit. Default `Math.random`. */
  readonly random?: () => number;
  /** Delay before re-opening a watch stream that failed, in ms. Default 1000. */
  readonly watchRetryMs?: number;
  /** Called when a subscriber throws (it never breaks a write). Default: ignore. */
  readonly onSubscriberError?: (error: unknown) => void;
  /** Called when the watch stream fails (it is re-opened). Default: ignore. */
  readonly onWatchError?: (error: unknown) => void;
}

/** The store did not answer within its deadline, or an earlier call is still stuck in it. */
export class DenoKvUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(`deno-kv store: ${message}`, options);
    this.name = "DenoKvUnavailableError";
  }
}

export class DenoKvStateStore extends BaseStateStore {
  private readonly snapshotKey: KvKey;
  private readonly prefix: string;
  private readonly deadline: CallDeadline;
  private readonly now: () => number;
  private readonly random: () => number;
  private watchReader: ReadableStreamDefaultReader<KvEntryMaybe<unknown>[]> | undefined;
  private watchRetry: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly kv: Kv,
    private readonly options: DenoKvStoreOptions = {},
  ) {
    super(options.onSubscriberError);
    this.prefix = options.prefix ?? "fulcrum";
    this.snapshotKey = [this.prefix, "snapshot"];
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.deadline = new CallDeadline({
      timeoutMs: options.timeoutMs ?? 2000,
      now: this.now,
      isClosed: () => this.closed,
      unavailable: (message, errorOptions) => new DenoKvUnavailableError(message, errorOptions),
      passesThrough: (error) => error instanceof StateSnapshotTooLargeError || error instanceof StateReportTooLargeError || error instanceof RangeError,
    });
  }

  load(): Promise<Snapshot> {
    return this.deadline.run("load", async () => {
      const snapshot = this.decode((await this.kv.get<StoredSnapshot>(this.snapshotKey)).value);
      this.subscribers.deliverNewer(snapshot);
      return snapshot;
    });
  }

  compareAndSet(expectedVersion: number, next: SnapshotData): Promise<Snapshot | undefined> {
    return this.deadline.run("compareAndSet", async (call) => {
      const data = snapshotJson(next);
      for (let attempt = 0; attempt < COMMIT_ATTEMPTS && !call.abandoned; attempt++) {
        const entry = await this.kv.get<StoredSnapshot>(this.snapshotKey);
        if (this.decode(entry.value).version !== expectedVersion) return undefined;
        const stored: StoredSnapshot = { version: expectedVersion + 1, updatedAt: this.now(), data };
        const operation = this.kv.atomic().check({ key: this.snapshotKey, versionstamp: entry.versionstamp }).set(this.snapshotKey, stored);
        if (await this.commit(operation, attempt)) {
          const written = this.decode(stored);
          this.subscribers.deliverNewer(written);
          return written;
        }
        // Busy, or a write that left the version alone: read again and decide again.
      }
      return undefined;
    });
  }

  override subscribe(cb: (s: Snapshot) => void): () => void {
    const unsubscribe = super.subscribe(cb);
    if (!this.watchReader && this.watchRetry === undefined) this.watch();
    return () => {
      unsubscribe();
      if (this.subscribers.size === 0) this.stopWatching();
    };
  }

  tryAcquireLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    return this.deadline.run("tryAcquireLease", async (call) => {
      if (!(ttlMs > 0) || !Number.isFinite(ttlMs)) throw new RangeError(`lease ttlMs: expected a positive number, got ${ttlMs}`);
      const key = this.leaseKey(name);
      for (let attempt = 0; attempt < COMMIT_ATTEMPTS && !call.abandoned; attempt++) {
        const entry = await this.kv.get<StoredLease>(key);
        const now = this.now();
        const lease = leaseOf(entry.value);
        // expireIn only lets Deno KV collect the key some time after expiry;
        // the explicit expiresAt decides, so an expired lease is free at once.
        if (lease && lease.holder !== holder && now < lease.expiresAt) return false;
        const stored: StoredLease = { holder, expiresAt: now + ttlMs };
        const operation = this.kv.atomic().check({ key, versionstamp: entry.versionstamp }).set(key, stored, { expireIn: Math.ceil(ttlMs) });
        if (await this.commit(operation, attempt)) return true;
        // Someone else wrote the lease, or the file was busy: read again and decide again.
      }
      return false;
    });
  }

  releaseLease(name: string, holder: string): Promise<void> {
    return this.deadline.run("releaseLease", async (call) => {
      const key = this.leaseKey(name);
      for (let attempt = 0; attempt < COMMIT_ATTEMPTS && !call.abandoned; attempt++) {
        const entry = await this.kv.get<StoredLease>(key);
        if (leaseOf(entry.value)?.holder !== holder) return;
        // If someone took it over in between, the check fails and theirs stays.
        if (await this.commit(this.kv.atomic().check({ key, versionstamp: entry.versionstamp }).delete(key), attempt)) return;
      }
    });
  }

  appendEvent(event: ChangeEvent): Promise<void> {
    return this.deadline.run("appendEvent", async () => {
      const events = [this.prefix, "events"];
      await this.kv.set([...events, event.at, crypto.randomUUID()], event);
      let kept = 0;
      for await (const entry of this.kv.list({ prefix: events }, { reverse: true })) {
        if (++kept > CHANGE_LOG_SIZE) await this.kv.delete(entry.key);
      }
    });
  }

  recentEvents(limit: number): Promise<ChangeEvent[]> {
    return this.deadline.run("recentEvents", async () => {
      if (limit <= 0) return [];
      const values: unknown[] = [];
      for await (const entry of this.kv.list({ prefix: [this.prefix, "events"] }, { reverse: true, limit })) values.push(entry.value);
      return wellFormedEvents(values).reverse();
    });
  }

  report(topic: string, instance: string, value: JsonValue, ttlMs: number): Promise<void> {
    return this.deadline.run("report", async (call) => {
      const pieces = reportPieces(reportJson(topic, instance, value, ttlMs));
      const id = pieces.length > 1 ? crypto.randomUUID() : undefined;
      const key = this.reportKey(topic, instance);
      const expireIn = Math.max(1, Math.ceil(ttlMs));
      for (let attempt = 0; attempt < COMMIT_ATTEMPTS && !call.abandoned; attempt++) {
        const entry = await this.kv.get<StoredReport>(key);
        const replaced = reportOf(entry.value);
        const stored: StoredReport = { expiresAt: this.now() + ttlMs, text: pieces[0]!, ...(id ? { parts: pieces.length - 1, id } : {}) };
        const operation = this.kv.atomic().check({ key, versionstamp: entry.versionstamp }).set(key, stored, { expireIn });
        for (let i = 1; i < pieces.length; i++) operation.set(this.reportPartKey(topic, instance, id!, i), pieces[i], { expireIn });
        // The replaced report's parts go in the same commit: none is left behind, and a reader of its head finds them gone.
        for (let i = 1; replaced?.id && i <= replaced.parts!; i++) operation.delete(this.reportPartKey(topic, instance, replaced.id, i));
        if (await this.commit(operation, attempt)) return;
        // Only this instance writes its report: a failed check is a busy file, or two of its own calls racing. Read again.
      }
      throw new Error(`${COMMIT_ATTEMPTS} commits of the report failed`);
    });
  }

  reports(topic: string): Promise<Record<string, JsonValue>> {
    return this.deadline.run("reports", async () => {
      const now = this.now();
      const heads: [string, StoredReport][] = [];
      for await (const entry of this.kv.list({ prefix: [this.prefix, "reports", topic] })) {
        const instance = entry.key[3];
        const head = reportOf(entry.value);
        if (typeof instance === "string" && entry.key.length === 4 && head && now < head.expiresAt) heads.push([instance, head]);
      }
      const texts = await Promise.all(heads.map(([instance, head]) => this.reportText(topic, instance, head, now)));
      const live: [string, JsonValue][] = [];
      texts.forEach((text, i) => {
        if (text === undefined) return;
        try {
          live.push([heads[i]![0], JSON.parse(text) as JsonValue]);
        } catch {
          // Pieces that do not make JSON: not a report this store wrote.
        }
      });
      // fromEntries defines own properties: an instance named `__proto__` stays a key.
      return Object.fromEntries(live);
    });
  }

  protected override dispose(): void {
    this.stopWatching();
    this.kv.close();
  }

  /**
   * Commit; false when the check failed or SQLite was busy. On a local KV
   * file two connections committing at once make one fail at once with
   * "database is locked" (SQLite cannot upgrade a read transaction another
   * writer has overtaken). Measured: two processes racing on one key saw
   * this on most commits, and two handles retrying at once kept failing each
   * other (over 1000 busy commits in a row), so a busy commit waits a random
   * backoff before the caller reads again. A lock held elsewhere fails such a
   * checked commit at once too (measured: `BEGIN EXCLUSIVE` from python3), so
   * a commit still busy on the last attempt is reported as unavailable. An
   * unchecked write would wait out Deno's 5 s busy timeout instead, which the
   * call deadline would catch first.
   */
  private async commit(operation: KvAtomicOperation, attempt: number): Promise<boolean> {
    try {
      return (await operation.commit()).ok;
    } catch (error) {
      if (!(error instanceof Error && /database is locked/i.test(error.message))) throw error;
      // Busy every time: not a race but a lock held elsewhere (fail static, not a lost race).
      if (attempt + 1 >= COMMIT_ATTEMPTS) {
        throw new Error(`database is locked: still busy after ${COMMIT_ATTEMPTS} commits (another connection holds its write lock)`);
      }
      const backoffMs = this.random() * Math.min(MAX_BUSY_BACKOFF_MS, 2 ** attempt);
      await new Promise((resolve) => setTimeout(resolve, backoffMs));
      return false;
    }
  }

  private leaseKey(name: string): KvKey {
    return [this.prefix, "lease", name];
  }

  private reportKey(topic: string, instance: string): KvKey {
    return [this.prefix, "reports", topic, instance];
  }

  private reportPartKey(topic: string, instance: string, id: string, part: number): KvKey {
    return [this.prefix, "report-parts", topic, instance, id, part];
  }

  /**
   * A live report's whole JSON text: its head's, or the head's and its parts'
   * (read in one getMany). A part missing means the report was replaced after
   * its head was read: read the head again (a few times at most; a report
   * replaced that often is left out of this read).
   */
  private async reportText(topic: string, instance: string, head: StoredReport, now: number): Promise<string | undefined> {
    let current: StoredReport | undefined = head;
    for (let attempt = 0; attempt < 3 && current && now < current.expiresAt; attempt++) {
      const { text, parts, id } = current;
      if (!parts || !id) return text;
      const keys = Array.from({ length: parts }, (_, i) => this.reportPartKey(topic, instance, id, i + 1));
      const pieces = (await this.kv.getMany<string>(keys)).map((e) => e.value);
      if (pieces.every((p) => typeof p === "string")) return text + pieces.join("");
      current = reportOf((await this.kv.get<StoredReport>(this.reportKey(topic, instance))).value);
    }
    return undefined;
  }

  private decode(stored: StoredSnapshot | null): Snapshot {
    return decodeSnapshot(stored, this.snapshotKey);
  }

  private watch(): void {
    this.watchRetry = undefined;
    if (this.closed || this.subscribers.size === 0) return;
    let reader: ReadableStreamDefaultReader<KvEntryMaybe<unknown>[]>;
    try {
      reader = this.kv.watch([this.snapshotKey]).getReader();
    } catch (error) {
      this.options.onWatchError?.(error);
      this.watchRetry = setTimeout(() => this.watch(), this.options.watchRetryMs ?? 1000);
      return;
    }
    this.watchReader = reader;
    void (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          const entry = value[0];
          if (entry) this.subscribers.deliverNewer(this.decode(entry.value as StoredSnapshot | null));
        }
      } catch (error) {
        if (this.watchReader === reader) this.options.onWatchError?.(error);
      }
      // The stream ended or failed while still wanted: open a new one later.
      if (this.watchReader === reader) {
        this.watchReader = undefined;
        if (!this.closed && this.subscribers.size > 0) this.watchRetry = setTimeout(() => this.watch(), this.options.watchRetryMs ?? 1000);
      }
    })();
  }

  private stopWatching(): void {
    clearTimeout(this.watchRetry);
    this.watchRetry = undefined;
    const reader = this.watchReader;
    this.watchReader = undefined;
    reader?.cancel().catch(() => {});
  }
}

/**
 * Open a KV database for the store within `timeoutMs`: `Deno.openKv` waits
 * for as long as another process holds the file's lock, and a balancer must
 * fail start-up rather than hang. A handle that arrives after the deadline is
 * closed.
 *
 * Processes opening one fresh file at the same moment (N servers started
 * together) race to create its schema, and the loser's `Deno.openKv` fails
 * at once with "database is locked" (measured with Deno 2.9: about one start
 * in ten for two processes). That is the busy case commit() handles too, so
 * the open is retried with the same jittered backoff until the deadline.
 */
export function openDenoKvStateStore(
  openKv: (path?: string) => Promise<Kv>,
  path: string | undefined,
  options: DenoKvStoreOptions = {},
): Promise<DenoKvStateStore> {
  const timeoutMs = options.timeoutMs ?? 2000;
  const random = options.random ?? Math.random;
  return new Promise((resolve, reject) => {
    let timedOut = false;
    let lastBusy: Error | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      const why = lastBusy ? `still "database is locked" after retrying for ${timeoutMs} ms` : `no answer within ${timeoutMs} ms`;
      reject(new DenoKvUnavailableError(`opening ${path ?? "the default database"}: ${why} (database locked or unreachable)`, { cause: lastBusy }));
    }, timeoutMs);
    const attempt = (n: number): void => {
      openKv(path).then(
        (kv) => {
          clearTimeout(timer);
          if (timedOut) kv.close();
          else resolve(new DenoKvStateStore(kv, options));
        },
        (error: unknown) => {
          if (timedOut) return;
          if (error instanceof Error && /database is locked/i.test(error.message)) {
            lastBusy = error;
            setTimeout(() => timedOut || attempt(n + 1), random() * Math.min(MAX_BUSY_BACKOFF_MS, 2 ** n));
            return;
          }
          clearTimeout(timer);
          reject(error);
        },
      );
    };
    attempt(0);
  });
}
