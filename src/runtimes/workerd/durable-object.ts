/**
 * The Durable Object that is the single writer of a balancer's shared state on
 * Cloudflare (issue #6). One object per `state.prefix` holds the versioned
 * snapshot (in memory, persisted to its SQLite-backed storage) and the
 * leases; every isolate reads and writes through it (src/state/cloudflare.ts).
 * A Durable Object runs one event at a time, so compare-and-set is a plain
 * comparison: no other request can interleave between the check and the set.
 *
 * Its alarm runs the active health checks (src/app/probing.ts: the config's
 * groups and checks, no request path), whose store is this object's own
 * state: they probe every interval and publish through `update()`. Isolates therefore never probe
 * while the alarm keeps renewing the `probe:<group>` leases (N isolates would
 * otherwise send N probes per interval, envoy#10498).
 *
 * Isolates talk to it with `stub.fetch()` and a small JSON protocol rather
 * than RPC methods: RPC needs the class to extend `DurableObject` from
 * "cloudflare:workers", a module Bun's typecheck and test runner cannot
 * resolve, while a fetch handler works on a plain class in workerd, Miniflare
 * and through Miniflare's Node-side namespace proxy (which the unit tests use).
 */
import { createProbing, type Probing } from "../../app/probing.ts";
import { overlay } from "../../app/overlay.ts";
import { validateConfig } from "../../config/load.ts";
import type { Config } from "../../config/schema.ts";
import { commonPlatform, type Platform } from "../../platform.ts";
import { fetchUpstream } from "../upstream/fetch.ts";
import { KvConfigSource } from "./kv-config.ts";
import { MemoryStateStore } from "../../state/memory.ts";
import type { StateOp, StateProtocol } from "../../state/cloudflare.ts";
import {
  type ChangeEvent,
  type JsonValue,
  type Mutator,
  reportJson,
  type Snapshot,
  type SnapshotData,
  type StateStore,
  wellFormedEvents,
} from "../../state/store.ts";

/** The parts of workerd's `DurableObjectState` used here (no @cloudflare/workers-types in this repo). */
export interface DurableObjectContext {
  readonly storage: {
    get<T>(key: string): Promise<T | undefined>;
    put(key: string, value: unknown): Promise<void>;
    getAlarm(): Promise<number | null>;
    setAlarm(scheduledTime: number): Promise<void>;
    deleteAlarm(): Promise<void>;
  };
  blockConcurrencyWhile<T>(fn: () => Promise<T>): Promise<T>;
}

const SNAPSHOT_KEY = "snapshot";
const EVENTS_KEY = "events";

/**
 * The authoritative snapshot, leases and reports: a memory store (memory.ts)
 * that starts from the snapshot in the object's storage and persists every
 * write there. Leases live in memory only: when the object is evicted they
 * are forgotten, which at worst lets one isolate probe once before the next
 * alarm takes the lease back. Reports too: each instance publishes its own
 * again within its TTL, so an evicted object is whole again after one TTL.
 */
export class SnapshotRegister extends MemoryStateStore {
  constructor(
    stored: Snapshot | undefined,
    persist: (s: Snapshot) => void,
    now: () => number = Date.now,
    log: (line: string) => void = () => {},
    events: { readonly stored?: readonly unknown[]; readonly persist?: (events: readonly ChangeEvent[]) => void } = {},
  ) {
    super({
      stored,
      persist,
      now,
      onSubscriberError: (error) => log(`state: subscriber failed: ${errorMessage(error)}`),
      ...(events.stored ? { storedEvents: events.stored } : {}),
      ...(events.persist ? { persistEvents: events.persist } : {}),
    });
  }
}

/**
 * The store the object's own Balancer uses: the register itself, no network.
 * Its leases always succeed (the alarm is the designated prober), which keeps
 * them held against isolates for as long as the alarm renews them. Closing
 * it leaves the register open: isolates still use it.
 */
export class DurableObjectLocalStore implements StateStore {
  constructor(private readonly register: SnapshotRegister) {}
  load(): Promise<Snapshot> {
    return this.register.load();
  }
  compareAndSet(expectedVersion: number, next: SnapshotData): Promise<Snapshot | undefined> {
    return this.register.compareAndSet(expectedVersion, next);
  }
  update(mutator: Mutator): Promise<Snapshot> {
    return this.register.update(mutator);
  }
  subscribe(cb: (s: Snapshot) => void): () => void {
    return this.register.subscribe(cb);
  }
  tryAcquireLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    return this.register.takeLease(name, holder, ttlMs);
  }
  releaseLease(name: string, holder: string): Promise<void> {
    return this.register.releaseLease(name, holder);
  }
  appendEvent(event: ChangeEvent): Promise<void> {
    return this.register.appendEvent(event);
  }
  recentEvents(limit: number): Promise<ChangeEvent[]> {
    return this.register.recentEvents(limit);
  }
  report(topic: string, instance: string, value: JsonValue, ttlMs: number): Promise<void> {
    return this.register.report(topic, instance, value, ttlMs);
  }
  reports(topic: string): Promise<Record<string, JsonValue>> {
    return this.register.reports(topic);
  }
  async close(): Promise<void> {}
}

/** The smallest health-check interval of any group (ms), or undefined when nothing is probed. */
export function probeIntervalMs(config: Config): number | undefined {
  const intervals = Object.values(config.targetGroups)
    .map((g) => g.healthCheck)
    .filter((c) => c?.enabled)
    .map((c) => c!.interval * 1000);
  return intervals.length ? Math.min(...intervals) : undefined;
}

const errorMessage = (e: unknown) => (e instanceof Error ? e.message : String(e));
const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);

/** Check a request body before it touches the register (a bad one is the caller's bug: 400). */
function parseRequest(op: string, body: unknown): { [K in StateOp]: { op: K; body: StateProtocol[K]["request"] } }[StateOp] | string {
  if (!isObject(body)) return "expected a JSON object body";
  const str = (k: string) => typeof body[k] === "string" && (body[k] as string).length > 0;
  switch (op) {
    case "load":
      return { op, body: {} };
    case "cas":
      if (!Number.isInteger(body.expectedVersion) || !isObject(body.data)) return "expected { expectedVersion, data }";
      // Other fields (an older isolate's `forwardWeights`) are ignored: the register keeps only what SnapshotData lists.
      if (![body.data.groups, body.data.actions].every(isObject)) return "expected data with groups and actions";
      return { op, body: body as StateProtocol["cas"]["request"] };
    case "acquire":
      if (!str("name") || !str("holder") || typeof body.ttlMs !== "number" || !(body.ttlMs > 0)) return "expected { name, holder, ttlMs }";
      return { op, body: body as StateProtocol["acquire"]["request"] };
    case "release":
      if (!str("name") || !str("holder")) return "expected { name, holder }";
      return { op, body: body as StateProtocol["release"]["request"] };
    case "event":
      if (wellFormedEvents([body.event]).length !== 1) return "expected { event } with at, instance, source, kind and subject";
      return { op, body: body as StateProtocol["event"]["request"] };
    case "events":
      if (!Number.isInteger(body.limit)) return "expected { limit }";
      return { op, body: body as StateProtocol["events"]["request"] };
    case "report":
      if (!("value" in body)) return "expected { topic, instance, value, ttlMs }";
      try {
        reportJson(body.topic as string, body.instance as string, body.value as JsonValue, body.ttlMs as number);
      } catch (error) {
        return errorMessage(error);
      }
      return { op, body: body as StateProtocol["report"]["request"] };
    case "reports":
      if (!str("topic")) return "expected { topic }";
      return { op, body: body as StateProtocol["reports"]["request"] };
    default:
      return `unknown operation ${JSON.stringify(op)}, expected load, cas, acquire, release, event, events, report or reports`;
  }
}

export interface FulcrumStateOptions {
  /** Wall-clock epoch ms (lease expiry, `updatedAt`, alarm times). Default `Date.now`. */
  readonly now?: () => number;
  readonly log?: (line: string) => void;
}

export interface FulcrumStateClass {
  new (ctx: DurableObjectContext, env: Record<string, unknown>): {
    fetch(request: Request): Promise<Response>;
    alarm(): Promise<void>;
  };
}

/**
 * The Durable Object class for a bundled config. The Worker's main module
 * exports it as `FulcrumState` (wrangler.toml `class_name`):
 *
 *   export const FulcrumState = defineFulcrumState(config);
 */
export function defineFulcrumState(configInput: unknown, options: FulcrumStateOptions = {}): FulcrumStateClass {
  const config = validateConfig(configInput, "bundled config");
  const now = options.now ?? Date.now;
  const log = options.log ?? ((line: string) => console.log(line));
  // The isolates may run a config from Workers KV; the object probes the same targets (kv-config.ts).
  const source = new KvConfigSource(config, log);

  return class FulcrumState {
    private register!: SnapshotRegister;
    private probing: Probing | undefined;
    private overlayKey = "";
    /** When this object last checked that its alarm is set (monotonic enough: Date.now in a Durable Object). */
    private alarmCheckedAt = Number.NEGATIVE_INFINITY;

    constructor(
      private readonly ctx: DurableObjectContext,
      private readonly env: Record<string, unknown>,
    ) {
      // No event is delivered before the stored snapshot is in memory.
      void ctx.blockConcurrencyWhile(async () => {
        const stored = await ctx.storage.get<Snapshot>(SNAPSHOT_KEY);
        const storedEvents = await ctx.storage.get<unknown[]>(EVENTS_KEY);
        // Output gates hold every response until this write is durable, so an isolate never sees a version that could be lost.
        const put = (key: string, value: unknown) =>
          void ctx.storage.put(key, value).catch((e: unknown) => log(`state: durable object write failed: ${errorMessage(e)}`));
        this.register = new SnapshotRegister(stored, (s) => put(SNAPSHOT_KEY, s), now, log, {
          ...(Array.isArray(storedEvents) ? { stored: storedEvents } : {}),
          persist: (events) => put(EVENTS_KEY, events),
        });
      });
    }

    async fetch(request: Request): Promise<Response> {
      await this.followConfig();
      await this.ensureAlarm();
      const op = new URL(request.url).pathname.slice(1);
      let body: unknown;
      try {
        body = await request.json();
      } catch {
        return Response.json({ error: "expected a JSON body" }, { status: 400 });
      }
      const parsed = parseRequest(op, body);
      if (typeof parsed === "string") return Response.json({ error: parsed }, { status: 400 });
      switch (parsed.op) {
        case "load":
          return Response.json({ snapshot: await this.register.load() } satisfies StateProtocol["load"]["response"]);
        case "cas": {
          const written = await this.register.compareAndSet(parsed.body.expectedVersion, parsed.body.data);
          return Response.json({ written: written ?? null, current: written ?? (await this.register.load()) } satisfies StateProtocol["cas"]["response"]);
        }
        case "acquire": {
          const { name, holder, ttlMs } = parsed.body;
          return Response.json({ acquired: await this.register.tryAcquireLease(name, holder, ttlMs) } satisfies StateProtocol["acquire"]["response"]);
        }
        case "release":
          await this.register.releaseLease(parsed.body.name, parsed.body.holder);
          return Response.json({} satisfies StateProtocol["release"]["response"]);
        case "event":
          await this.register.appendEvent(parsed.body.event);
          return Response.json({} satisfies StateProtocol["event"]["response"]);
        case "events":
          return Response.json({ events: await this.register.recentEvents(parsed.body.limit) } satisfies StateProtocol["events"]["response"]);
        case "report": {
          const { topic, instance, value, ttlMs } = parsed.body;
          await this.register.report(topic, instance, value, ttlMs);
          return Response.json({} satisfies StateProtocol["report"]["response"]);
        }
        case "reports":
          return Response.json({ reports: await this.register.reports(parsed.body.topic) } satisfies StateProtocol["reports"]["response"]);
      }
    }

    /** One round of active checks, then the next alarm one interval after this one began. */
    async alarm(): Promise<void> {
      await this.followConfig();
      await this.followTargets();
      const intervalMs = probeIntervalMs(source.config);
      if (intervalMs === undefined) return;
      // Re-arm first: a round that throws must not end probing (workerd retries a failed alarm only a few times).
      await this.ctx.storage.setAlarm(now() + intervalMs);
      try {
        await this.ownProbing().checks.runAll();
      } catch (error) {
        log(`state: health-check round failed: ${errorMessage(error)}`);
      }
    }

    /**
     * Isolate calls arm the alarm (a Durable Object has no start-up hook of its
     * own), and re-check it every two intervals: a storage call that failed, or
     * an alarm whose retries ran out, must not end probing for the object's life.
     */
    private async ensureAlarm(): Promise<void> {
      const intervalMs = probeIntervalMs(source.config);
      if (intervalMs === undefined || now() - this.alarmCheckedAt < 2 * intervalMs) return;
      try {
        if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(now());
        this.alarmCheckedAt = now();
      } catch (error) {
        log(`state: arming the health-check alarm failed (retried on the next call): ${errorMessage(error)}`);
      }
    }

    /** Re-read the KV config when due; a changed one gets new checks at the next round. */
    private async followConfig(): Promise<void> {
      if (source.due(this.env) && (await source.refresh(this.env))) this.probing = undefined;
    }

    /** Targets operators added or removed (the snapshot's overlay): the checks follow the same target list as the isolates. */
    private async followTargets(): Promise<void> {
      const key = overlay(source.config, await this.register.load(), Date.now()).key;
      if (key !== this.overlayKey) this.probing = undefined;
      this.overlayKey = key;
    }

    /** The checks of the current config: its groups and health tables, nothing of a balancer's request path. */
    private ownProbing(): Probing {
      if (this.probing) return this.probing;
      const platform: Platform = {
        ...commonPlatform,
        runtime: "workerd",
        upstream: fetchUpstream(),
        // The object serves no client traffic: rules on client addresses never run here.
        clientAddress: () => undefined,
        env: this.env,
        log,
        state: new DurableObjectLocalStore(this.register),
      };
      this.probing = createProbing(overlay(source.config, this.register.latest, Date.now()).config, platform);
      this.probing.ready().catch((e: unknown) => log(`state: durable object checks start-up: ${errorMessage(e)}`));
      return this.probing;
    }
  };
}
