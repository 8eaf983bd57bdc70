/**
 * The rate limiters of the balancer across configs. A config's limits are
 * looked up by where they apply (`default`, `rule-10`) and their settings:
 * a reload that keeps a limit keeps its buckets, so a reload is no way to
 * get a fresh quota; a changed limit starts with full buckets.
 *
 * The shared ones exchange their counts every `syncInterval` (sharing.ts)
 * from `due`, which servers call on a timer and Workers from requests.
 */
import type { StateStore } from "../state/store.ts";
import { RateLimiter } from "./limiter.ts";
import type { RateLimitConfig } from "./schema.ts";
import { SharedCounts } from "./sharing.ts";

export interface RateLimitersDeps {
  readonly store: () => Pick<StateStore, "report" | "reports">;
  /** This instance's name in the store (the change log's). */
  readonly instance: string;
  readonly now: () => number;
  readonly timer: (ms: number, fire: () => void) => () => void;
  readonly log: (line: string) => void;
}

export class RateLimiters {
  private byIdentity = new Map<string, RateLimiter>();
  private nextSync = new Map<RateLimiter, number>();
  private syncing: Promise<void> | undefined;
  private syncStarted = 0;
  /** Past this an exchange under way is taken for lost: its longest interval and a minute more. */
  private longestMs = 60_000;

  constructor(private readonly deps: RateLimitersDeps) {}

  /** Some limit is shared: there is periodic work. */
  get active(): boolean {
    return this.nextSync.size > 0;
  }

  /** The limiters of a config, by name; the ones of the config before that it keeps are the same objects. */
  select(limits: ReadonlyArray<readonly [string, RateLimitConfig]>): Map<string, RateLimiter> {
    const next = new Map<string, RateLimiter>();
    const out = new Map<string, RateLimiter>();
    for (const [name, config] of limits) {
      const identity = `${name} ${JSON.stringify(config)}`;
      let limiter = this.byIdentity.get(identity);
      if (limiter === undefined) {
        limiter = new RateLimiter(name, config);
        if (config.shared) {
          const d = this.deps;
          limiter.sharing = new SharedCounts(limiter.buckets, d.store(), `ratelimit ${name}`, d.instance, config.syncInterval * 1000, d.log);
        }
      }
      next.set(identity, limiter);
      out.set(name, limiter);
    }
    this.byIdentity = next;
    this.longestMs = 60_000 + Math.max(0, ...limits.map(([, c]) => c.syncInterval * 1000));
    this.nextSync = new Map([...next.values()].filter((l) => l.sharing).map((l) => [l, this.nextSync.get(l) ?? 0]));
    return out;
  }

  /**
   * Milliseconds until the next exchange that has something to do: one whose interval has passed
   * (`reading`: to learn the others' counts too), or one with counts of its own to tell.
   */
  private untilDue(reading: boolean): number | undefined {
    const now = this.deps.now();
    let wait: number | undefined;
    for (const [limiter, at] of this.nextSync) {
      if ((reading && now >= at) || limiter.buckets.hasUsed) wait = Math.min(wait ?? Number.POSITIVE_INFINITY, Math.max(0, at - now));
    }
    return wait;
  }

  /**
   * Exchange the counts of the shared limits whose interval has passed. Counts not told yet whose
   * interval has not passed are told when it has: the work returned waits for it, so a Worker
   * keeps the request that took them alive until then (no request may follow to tell them).
   * Returns the work under way, or undefined.
   */
  due(): Promise<void> | undefined {
    // On Workers an exchange whose request's waitUntil ran out may never settle: it is let go.
    if (this.syncing !== undefined && this.deps.now() - this.syncStarted > this.longestMs) this.syncing = undefined;
    if (this.syncing !== undefined || this.nextSync.size === 0) return this.syncing;
    if (this.untilDue(true) === undefined) return undefined;
    // Until nothing is left to tell: counts taken during an exchange are told by the next one.
    const run = async () => {
      // Bounded (a Worker keeps a request's work alive for 30 s after it): the next request starts another.
      const started = this.deps.now();
      for (let wait = this.untilDue(true); wait !== undefined && this.deps.now() - started < 25_000; wait = this.untilDue(false)) {
        if (wait > 0) await new Promise<void>((resolve) => this.deps.timer(wait, resolve));
        const at = this.deps.now();
        const work: Promise<void>[] = [];
        for (const [limiter, next] of this.nextSync) {
          if (at < next) continue;
          this.nextSync.set(limiter, at + limiter.config.syncInterval * 1000);
          work.push(limiter.sharing!.sync(this.deps.now));
        }
        await Promise.all(work);
      }
    };
    this.syncStarted = this.deps.now();
    const wrapped: Promise<void> = run().finally(() => {
      if (this.syncing === wrapped) this.syncing = undefined;
    });
    return (this.syncing = wrapped);
  }
}
