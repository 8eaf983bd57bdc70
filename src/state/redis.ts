/**
 * The Redis state store, for several Bun/Node instances. It speaks to Redis
 * through a two-method connection (`send` a command, `subscribe` to a
 * channel) that each runtime implements with its own client (Bun's built-in
 * `RedisClient`, the npm `redis` package on Node), so this file stays on web
 * APIs only.
 *
 * Layout under the configured prefix:
 * - `<prefix>:snapshot`: a hash { version, updatedAt, data (JSON) }.
 * - `<prefix>:lease:<name>`: the holder's id, with a PX expiry.
 * - `<prefix>:changed`: the channel that carries each new version.
 * - `<prefix>:events`: the change log, a list of JSON entries, newest first,
 *   trimmed to CHANGE_LOG_SIZE in the same script that pushes.
 * - `<prefix>:reports:<topic>`: a hash, field = instance, value = JSON
 *   `{ expiresAt, value }`. Expired fields are dropped by the script that
 *   reads them (per-field expiry, HEXPIRE, needs Redis 7.4; Debian 12 has
 *   7.0), and the hash's own PX expiry is kept at the longest TTL written, so
 *   a topic nobody publishes any more goes away with its last report.
 *
 * Writes are compare-and-set in one Lua script (check the version, write,
 * PUBLISH), so a notification is never lost between the write and the publish
 * and a writer that dies halfway leaves nothing half done. Leases follow
 * Redis's documented single-instance lock: `SET key holder NX PX ttl`, and
 * check-the-holder scripts to renew and release
 * (https://redis.io/docs/latest/develop/use/patterns/distributed-locks/).
 *
 * Fail static: every command is bounded by `commandTimeoutMs` on top of the
 * client's own (no offline queue), so callers learn within that time that
 * Redis is gone and keep serving on what they have; the connection reconnects
 * and resubscribes on its own when Redis comes back.
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

/** What the store needs from a Redis client; each runtime adapts its own. */
export interface RedisConnection {
  /**
   * Send one command (`["SET", "k", "v"]`). Resolves to the reply: string,
   * number, null, or an array of those; rejects on error replies and, without
   * queueing, when disconnected.
   */
  send(args: readonly string[]): Promise<unknown>;
  /**
   * Subscribe to `channel` on a connection of its own (a subscribed Redis
   * connection can run nothing else). `onSubscribed` runs each time the
   * subscription becomes active: first, and again after every reconnect
   * (messages published while it was down are lost, so the store re-reads).
   * Reconnecting is the subscription's job, until `close`.
   */
  subscribe(channel: string, handlers: SubscriptionHandlers): RedisSubscription;
  close(): Promise<void>;
}

export interface SubscriptionHandlers {
  onMessage(message: string): void;
  onSubscribed(): void;
}

export interface RedisSubscription {
  close(): Promise<void>;
}

export interface RedisStoreOptions {
  /** Key prefix (config `state.prefix`). */
  readonly prefix: string;
  /** Wall-clock epoch milliseconds for `updatedAt`. Default `Date.now`. */
  readonly now?: () => number;
  /** Longest wait for one command before it rejects (fail static needs an answer, not a hang). Default 1500. */
  readonly commandTimeoutMs?: number;
  /** Called when a subscriber throws or a background re-read fails. Default: ignore. */
  readonly onBackgroundError?: (error: unknown) => void;
}

export const DEFAULT_COMMAND_TIMEOUT_MS = 1500;

/** Check the version, write, announce: one atomic step. KEYS: snapshot; ARGV: expected, data, updatedAt, channel. */
const COMPARE_AND_SET = `
local current = redis.call('HGET', KEYS[1], 'version') or '0'
if current ~= ARGV[1] then return 0 end
local next = tonumber(current) + 1
redis.call('HSET', KEYS[1], 'version', next, 'updatedAt', ARGV[3], 'data', ARGV[2])
redis.call('PUBLISH', ARGV[4], next)
return next`;

/** Only the version when the caller already has it (polls every cacheTtl are then a few bytes). KEYS: snapshot; ARGV: known version. */
const LOAD_IF_CHANGED = `
local current = redis.call('HGET', KEYS[1], 'version')
if current and current == ARGV[1] then return {current} end
return redis.call('HMGET', KEYS[1], 'version', 'updatedAt', 'data')`;

/**
 * Put a snapshot back into a Redis that lost it (restarted without
 * persistence), keeping its version: instances compare versions, and a store
 * that fell back to 0 would look older than what they hold and be ignored.
 * A no-op when someone else restored or wrote first. KEYS: snapshot; ARGV: version, updatedAt, data.
 */
const RESTORE = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'version', ARGV[1], 'updatedAt', ARGV[2], 'data', ARGV[3])
end
return redis.call('HMGET', KEYS[1], 'version', 'updatedAt', 'data')`;

/** Renew when held by us; also take it when it expired between our SET NX and this. KEYS: lease; ARGV: holder, ttl. */
const RENEW_LEASE = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] or not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`;

/** Delete only when held by us (a lease that expired and passed on is not ours to drop). KEYS: lease; ARGV: holder. */
const RELEASE_LEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** Push an entry and keep the newest N. KEYS: events; ARGV: entry JSON, N. */
const APPEND_EVENT = `
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
return 1`;

/**
 * Put one instance's report and keep the hash alive at least as long as it.
 * PTTL is -1 (no expiry yet) on a new hash. KEYS: reports; ARGV: instance, entry JSON, ttl.
 */
const PUT_REPORT = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local ttl = tonumber(ARGV[3])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1`;

/**
 * The live reports as a flat [instance, entry, ...] list, dropping expired
 * ones in the same step: a report renewed between a read and a separate HDEL
 * would be lost. Entries start with the `{"expiresAt":<ms>,` this store
 * writes; others (not ours) are left alone and not returned. KEYS: reports; ARGV: now.
 */
const LIVE_REPORTS = `
local now = tonumber(ARGV[1])
local all = redis.call('HGETALL', KEYS[1])
local live = {}
for i = 1, #all, 2 do
  local expiresAt = tonumber(string.match(all[i + 1], '^{"expiresAt":(%-?[%d.e+]+),'))
  if expiresAt then
    if expiresAt > now then
      live[#live + 1] = all[i]
      live[#live + 1] = all[i + 1]
    else
      redis.call('HDEL', KEYS[1], all[i])
    end
  end
end
return live`;

export class RedisStateStore extends BaseStateStore {
  private readonly snapshotKey: string;
  private readonly channel: string;
  private readonly now: () => number;
  private readonly timeoutMs: number;
  private readonly scripts = new Map<string, Promise<string>>();
  private subscription: RedisSubscription | undefined;
  /** The newest snapshot this store has read or written (reused while the version is unchanged). */
  private latest: Snapshot | undefined;
  private catchingUp = false;
  private catchUpAgain = false;

  constructor(
    private readonly connection: RedisConnection,
    private readonly options: RedisStoreOptions,
  ) {
    super(options.onBackgroundError);
    this.snapshotKey = `${options.prefix}:snapshot`;
    this.channel = `${options.prefix}:changed`;
    this.now = options.now ?? Date.now;
    this.timeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  }

  async load(): Promise<Snapshot> {
    this.assertOpen();
    const known = this.latest?.version ?? -1;
    let reply = await this.script(LOAD_IF_CHANGED, [this.snapshotKey], [String(known)]);
    if (this.latest && this.latest.version > 0 && isEmptyReply(reply)) {
      const { version, updatedAt } = this.latest;
      reply = await this.script(RESTORE, [this.snapshotKey], [String(version), String(updatedAt), JSON.stringify(dataOf(this.latest))]);
    }
    return this.parse(reply);
  }

  async compareAndSet(expectedVersion: number, next: SnapshotData): Promise<Snapshot | undefined> {
    this.assertOpen();
    const json = JSON.stringify(dataOf(next));
    const updatedAt = this.now();
    const reply = await this.script(COMPARE_AND_SET, [this.snapshotKey], [String(expectedVersion), json, String(updatedAt), this.channel]);
    const version = Number(reply);
    if (!version) return undefined;
    // Parse our own JSON back: a deep copy the caller's `next` cannot reach.
    const written = frozenSnapshot(JSON.parse(json) as SnapshotData, version, updatedAt);
    this.remember(written);
    this.subscribers.deliverNewer(written);
    return written;
  }

  override subscribe(cb: (s: Snapshot) => void): () => void {
    const unsubscribe = super.subscribe(cb);
    if (!this.subscription) {
      // Versions this store already knows are not news to a new subscriber.
      this.subscribers.markDelivered(this.latest?.version ?? 0);
      this.subscription = this.connection.subscribe(this.channel, {
        onMessage: (message) => {
          if (Number(message) > this.subscribers.delivered) this.catchUp();
        },
        // Whatever was published while we were not listening is only in the snapshot.
        onSubscribed: () => this.catchUp(),
      });
    }
    return unsubscribe;
  }

  async tryAcquireLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    this.assertOpen();
    const key = this.leaseKey(name);
    const ttl = String(Math.max(1, Math.ceil(ttlMs)));
    if ((await this.send(["SET", key, holder, "NX", "PX", ttl])) === "OK") return true;
    return Number(await this.script(RENEW_LEASE, [key], [holder, ttl])) === 1;
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    this.assertOpen();
    await this.script(RELEASE_LEASE, [this.leaseKey(name)], [holder]);
  }

  async appendEvent(event: ChangeEvent): Promise<void> {
    this.assertOpen();
    await this.script(APPEND_EVENT, [`${this.options.prefix}:events`], [JSON.stringify(event), String(CHANGE_LOG_SIZE)]);
  }

  async recentEvents(limit: number): Promise<ChangeEvent[]> {
    this.assertOpen();
    if (limit <= 0) return [];
    const reply = await this.send(["LRANGE", `${this.options.prefix}:events`, "0", String(limit - 1)]);
    const parsed = (Array.isArray(reply) ? reply : []).map((x) => {
      try {
        return JSON.parse(String(x)) as unknown;
      } catch {
        return undefined;
      }
    });
    return wellFormedEvents(parsed).reverse();
  }

  async report(topic: string, instance: string, value: JsonValue, ttlMs: number): Promise<void> {
    this.assertOpen();
    const json = reportJson(topic, instance, value, ttlMs);
    const ttl = Math.max(1, Math.ceil(ttlMs));
    // expiresAt first: the read script finds it at the start of the entry without parsing the rest.
    const entry = `{"expiresAt":${this.now() + ttl},"value":${json}}`;
    await this.script(PUT_REPORT, [this.reportsKey(topic)], [instance, entry, String(ttl)]);
  }

  async reports(topic: string): Promise<Record<string, JsonValue>> {
    this.assertOpen();
    const reply = await this.script(LIVE_REPORTS, [this.reportsKey(topic)], [String(this.now())]);
    const flat = Array.isArray(reply) ? reply.map(String) : [];
    const live: [string, JsonValue][] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      try {
        live.push([flat[i]!, (JSON.parse(flat[i + 1]!) as { value: JsonValue }).value]);
      } catch {
        // Not JSON after all: not one of ours.
      }
    }
    // fromEntries defines own properties: an instance named `__proto__` stays a key.
    return Object.fromEntries(live);
  }

  protected override async dispose(): Promise<void> {
    const subscription = this.subscription;
    this.subscription = undefined;
    await Promise.allSettled([subscription?.close(), this.connection.close()]);
  }

  private leaseKey(name: string): string {
    return `${this.options.prefix}:lease:${name}`;
  }

  private reportsKey(topic: string): string {
    return `${this.options.prefix}:reports:${topic}`;
  }

  private parse(reply: unknown): Snapshot {
    if (!Array.isArray(reply)) throw new Error(`redis: unexpected reply to load: ${JSON.stringify(reply)}`);
    const [version, updatedAt, data] = reply as (string | number | null | undefined)[];
    if (version === null || version === undefined) return this.remember(emptySnapshot());
    if (data === undefined) return this.latest!; // unchanged since we last read it
    return this.remember(frozenSnapshot(JSON.parse(String(data)) as SnapshotData, Number(version), Number(updatedAt)));
  }

  private remember(s: Snapshot): Snapshot {
    if (!this.latest || s.version >= this.latest.version) this.latest = s;
    return s;
  }

  /**
   * Re-read and hand subscribers the snapshot if it is newer than the last
   * they got. One read at a time: a burst of notifications costs two reads,
   * not one per write (the second sees everything the burst wrote).
   */
  private catchUp(): void {
    if (this.closed) return;
    if (this.catchingUp) {
      this.catchUpAgain = true;
      return;
    }
    this.catchingUp = true;
    this.load()
      .then(
        (s) => this.subscribers.deliverNewer(s),
        (error) => this.options.onBackgroundError?.(error),
      )
      .finally(() => {
        this.catchingUp = false;
        if (this.catchUpAgain) {
          this.catchUpAgain = false;
          this.catchUp();
        }
      });
  }

  /** EVALSHA, falling back to EVAL when Redis does not have the script (first use, or after a restart). */
  private async script(source: string, keys: string[], args: string[]): Promise<unknown> {
    const sha = await this.sha1(source);
    const tail = [String(keys.length), ...keys, ...args];
    try {
      return await this.send(["EVALSHA", sha, ...tail]);
    } catch (error) {
      if (!(error instanceof Error && /NOSCRIPT/.test(error.message))) throw error;
      return this.send(["EVAL", source, ...tail]);
    }
  }

  private sha1(source: string): Promise<string> {
    let sha = this.scripts.get(source);
    if (!sha) {
      sha = crypto.subtle.digest("SHA-1", new TextEncoder().encode(source)).then((d) =>
        [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("")
      );
      this.scripts.set(source, sha);
    }
    return sha;
  }

  /** One command, bounded in time: a Redis that stopped answering must not stall the caller. */
  private send(args: string[]): Promise<unknown> {
    this.assertOpen();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`redis ${args[0]}: no reply within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    const reply = this.connection.send(args).catch((error: unknown) => {
      throw new Error(`redis ${args[0]}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    });
    return Promise.race([reply, timeout]).finally(() => clearTimeout(timer));
  }
}

function isEmptyReply(reply: unknown): boolean {
  return Array.isArray(reply) && (reply[0] === null || reply[0] === undefined);
}
