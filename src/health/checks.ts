/**
 * Runs the active health checks of every target group that configures them,
 * through the platform's own upstream client (so probes send the same Host
 * and never decompress), and logs each state transition once. Servers start
 * the timers; Workers call `runDue()` from requests and the cron trigger,
 * since an isolate has no timers outside a request.
 *
 * With a shared state store (`shared`), probing is deduplicated: each round
 * an instance asks for the group's probe lease; only the holder probes and
 * publishes (sync.ts), the others read the store every `cacheTtl`. When the
 * store is unreachable every instance probes for itself (fail static).
 */
import { signalCancellation } from "../cancellation.ts";
import type { Platform } from "../platform.ts";
import type { SnapshotCache } from "../state/cache.ts";
import type { StateStore } from "../state/store.ts";
import { createProber, type Prober } from "./prober.ts";
import { type CheckedGroup, HealthSync, StoreLink } from "./sync.ts";

export type { CheckedGroup } from "./sync.ts";

export interface SharedHealthOptions {
  readonly store: StateStore;
  readonly cache: SnapshotCache;
  /** Re-read the store at least this often (the config's `state.cacheTtl`). */
  readonly cacheTtlMs: number;
  /** This instance's lease holder name (unique per process / isolate). */
  readonly instanceId: string;
  /** e.g. "redis store" for log lines. */
  readonly what: string;
  readonly wallNow?: () => number;
}

interface GroupProber {
  readonly group: CheckedGroup;
  readonly prober: Prober;
  readonly intervalMs: number;
  readonly leaseTtlMs: number;
  readonly jitter: number;
  lastRun: number;
  timer?: ReturnType<typeof setTimeout>;
  /** This instance held the lease at its last round. */
  leader: boolean;
}

export class HealthChecks {
  private readonly probers: GroupProber[] = [];
  private readonly sync: HealthSync | undefined;
  private readonly link: StoreLink | undefined;
  private pollTimer: ReturnType<typeof setInterval> | undefined;
  private lastPoll = -Infinity;
  private running = false;
  /** Bumped by start/stop, so a round that outlives a stop (or a stop then start) ends its loop. */
  private generation = 0;
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    groups: Iterable<CheckedGroup>,
    private readonly platform: Platform,
    private readonly shared?: SharedHealthOptions,
  ) {
    const list = [...groups];
    if (shared) {
      this.link = new StoreLink((line) => platform.log(line), shared.what);
      this.sync = new HealthSync({
        groups: list,
        store: shared.store,
        cache: shared.cache,
        link: this.link,
        platform,
        ...(shared.wallNow ? { wallNow: shared.wallNow } : {}),
      });
    }
    for (const group of list) {
      this.unsubscribe.push(
        group.health.onTransition((t) => platform.log(`health: group=${group.name} target=${group.targets[t.index]!.url} ${t.from} -> ${t.to} (${t.reason})`)),
      );
      const check = group.config.healthCheck;
      if (!check?.enabled) continue;
      const prober = createProber({
        targets: group.targets,
        config: check,
        fetch: (req, signal) => {
          const u = new URL(req.url);
          return platform.upstream({
            origin: u.origin,
            path: u.pathname + u.search,
            method: req.method,
            headers: req.headers,
            body: null,
            cancellation: signalCancellation(signal),
            connectTimeoutMs: check.timeout * 1000,
          });
        },
        timers: { setTimeout: unrefTimeout, clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>) },
        now: platform.now,
        random: platform.random,
        onResult: (i, ok, detail) => {
          this.sync?.noteLocalProbe(group, i);
          group.health.recordProbe(i, ok, detail, platform.now());
        },
      });
      const intervalMs = check.interval * 1000;
      // The lease must outlive the gap between two rounds of its holder (interval + jitter + a slow probe), twice over.
      const leaseTtlMs = 2 * (intervalMs * (1 + check.jitter) + check.timeout * 1000);
      this.probers.push({ group, prober, intervalMs, leaseTtlMs, jitter: check.jitter, lastRun: -Infinity, leader: false });
    }
  }

  get enabled(): boolean {
    return this.probers.length > 0 || this.shared !== undefined;
  }

  /** Servers: probe now, then every interval (+ jitter), at most one probe in flight per target. */
  start(): void {
    if (this.running) return;
    this.running = true;
    if (!this.shared) {
      for (const p of this.probers) p.prober.start();
      return;
    }
    this.pollTimer = setInterval(() => void this.poll(), this.shared.cacheTtlMs);
    (this.pollTimer as unknown as { unref?: () => void }).unref?.();
    const gen = ++this.generation;
    for (const p of this.probers) void this.loop(p, gen);
  }

  /** Stop for good: a new config's checks take over (its tables, its transitions). */
  close(): void {
    this.stop();
    this.sync?.close();
    for (const off of this.unsubscribe.splice(0)) off();
  }

  stop(): void {
    this.running = false;
    this.generation++;
    if (this.pollTimer !== undefined) clearInterval(this.pollTimer);
    for (const p of this.probers) {
      p.prober.stop();
      if (p.timer !== undefined) clearTimeout(p.timer);
      // Hand the lease over at once instead of letting it expire (a successor probes at its next round).
      if (this.shared && p.leader) void this.shared.store.releaseLease(leaseName(p.group), this.shared.instanceId).catch(() => {});
      p.leader = false;
    }
  }

  /** Workers: re-read the store when the TTL has passed, and run a round for each group whose interval has passed; undefined when nothing is due. */
  runDue(): Promise<void> | undefined {
    const now = this.platform.now();
    let work: Promise<void>[] | undefined;
    if (this.shared && now - this.lastPoll >= this.shared.cacheTtlMs) (work ??= []).push(this.poll());
    for (const p of this.probers) {
      if (now - p.lastRun < p.intervalMs) continue;
      p.lastRun = now;
      (work ??= []).push(this.round(p));
    }
    // Nothing due (almost every request): no promise for the Worker to wait on.
    return work && Promise.all(work).then(() => {});
  }

  /** Workers' cron trigger and the Durable Object's alarm: a round for every group now. */
  runAll(): Promise<void> {
    const now = this.platform.now();
    const work: Promise<void>[] = this.shared ? [this.poll()] : [];
    for (const p of this.probers) {
      p.lastRun = now;
      work.push(this.round(p));
    }
    return Promise.all(work).then(() => {});
  }

  url(group: CheckedGroup, i: number): string | undefined {
    return this.probers.find((p) => p.group === group)?.prober.url(i);
  }

  /** Does this instance send the group's probes (alone, as lease holder, or with the store down)? Undefined without active checks. */
  probing(group: CheckedGroup): boolean | undefined {
    const p = this.probers.find((x) => x.group === group);
    if (!p) return undefined;
    return !this.shared || p.leader || !this.link!.reachable;
  }

  /** False while the shared store is unreachable (always true without one). */
  get storeReachable(): boolean {
    return this.link?.reachable ?? true;
  }

  private async poll(): Promise<void> {
    this.lastPoll = this.platform.now();
    await this.link!.call("read", () => this.shared!.cache.refresh());
  }

  /** Shared mode on servers: a round, then the next one an interval (+ jitter) after this one started. */
  private async loop(p: GroupProber, gen: number): Promise<void> {
    const started = this.platform.now();
    try {
      await this.round(p);
    } catch (error) {
      // A bug in one round must not end this group's checks for good (nor, unhandled, the process).
      this.platform.log(`health: group=${p.group.name}: check round failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (gen !== this.generation) {
      // Stopped while the round ran: hand back a lease it may just have taken.
      if (p.leader) void this.shared!.store.releaseLease(leaseName(p.group), this.shared!.instanceId).catch(() => {});
      p.leader = false;
      return;
    }
    const wait = p.intervalMs * (1 + p.jitter * this.platform.random());
    p.timer = unrefTimeout(() => void this.loop(p, gen), Math.max(0, started + wait - this.platform.now()));
  }

  /** One round for one group: probe when alone, when holding the lease, or when the store is down. */
  private async round(p: GroupProber): Promise<void> {
    if (!this.shared) return p.prober.probeAllOnce();
    const { store, instanceId } = this.shared;
    const got = await this.link!.call("write", () => store.tryAcquireLease(leaseName(p.group), instanceId, p.leaseTtlMs));
    p.leader = got === true;
    if (got === false) return; // another instance probes this interval
    await p.prober.probeAllOnce();
    if (got === true) await this.sync!.publishVerdicts(p.group);
  }
}

function leaseName(group: CheckedGroup): string {
  return `probe:${group.name}`;
}

/** Probes and polls must not keep a stopping server alive. */
function unrefTimeout(fn: () => void, ms: number): ReturnType<typeof setTimeout> {
  const t = setTimeout(fn, ms);
  (t as unknown as { unref?: () => void }).unref?.();
  return t;
}
