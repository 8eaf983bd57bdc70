/**
 * Response timeouts for the server runtimes without a timer per request: one
 * interval sweeps the pending deadlines every `tickMs` (a per-request
 * setTimeout + clearTimeout was a measurable share of a proxied request on
 * Bun, BENCHMARKS.md). Deadlines
 * fire up to one tick late, which is fine for timeouts measured in seconds.
 * Workers keep per-request setTimeout: an isolate has no timers of its own.
 *
 * A timing wheel: one bucket per tick, and cancelling drops the callback (and
 * the bucket once all of its deadlines are cancelled), so under load no
 * long-lived collection loses an entry per request. The first version kept
 * the pending deadlines in one `Set`, one add and one delete per request.
 * On Bun (JavaScriptCore) the values of deleted Set and Map entries stay
 * reachable to young-generation collections until a full one (V8 shows no
 * difference), so every young collection under load visited far more and
 * paused longer, and full collections came more often: Bun's p99 tail
 * (BUN_JSC_logGC; BENCHMARKS.md, "Bun: the p99 tail").
 */
interface Pending {
  /** Cleared when the deadline fires or is cancelled, so a cancelled entry holds nothing. */
  fire: (() => void) | undefined;
  readonly bucket: Bucket;
}

/** The deadlines due in one tick. Dropped from the wheel once all of them are cancelled: a 60 s timeout cancelled after 5 ms is not held for 60 s. */
interface Bucket {
  readonly tick: number;
  live: number;
  readonly due: Pending[];
}

/** The interval that drives the sweep (injected by tests). */
export interface Interval {
  start(sweep: () => void, ms: number): unknown;
  stop(handle: unknown): void;
}

const realInterval: Interval = {
  start(sweep, ms) {
    const timer = setInterval(sweep, ms);
    // Never keep a stopping process alive for a timeout.
    (timer as unknown as { unref?: () => void }).unref?.();
    return timer;
  },
  stop: (handle) => clearInterval(handle as ReturnType<typeof setInterval>),
};

/** Sets a deadline and returns its cancel; `held` counts the entries the wheel still holds, cancelled ones included (for tests). */
export type CoarseTimers = ((ms: number, fire: () => void) => () => void) & { readonly held: number };

export function coarseTimers(now: () => number, tickMs = 50, interval: Interval = realInterval): CoarseTimers {
  /** Tick number → the deadlines due in it. */
  const wheel = new Map<number, Bucket>();
  /** Deadlines neither fired nor cancelled: the sweep stops at zero. */
  let live = 0;
  /** Every tick up to this one has been swept. */
  let swept = 0;
  let timer: unknown;

  const stop = () => {
    interval.stop(timer);
    timer = undefined;
    wheel.clear();
  };
  const sweep = () => {
    const current = Math.floor(now() / tickMs);
    while (swept < current) {
      swept++;
      const bucket = wheel.get(swept);
      if (bucket === undefined) continue;
      wheel.delete(swept);
      for (const p of bucket.due) {
        const fire = p.fire;
        if (fire === undefined) continue;
        p.fire = undefined;
        live--;
        try {
          fire();
        } catch (error) {
          // The other deadlines still fire; the error is reported, as a timer's would be.
          queueMicrotask(() => {
            throw error;
          });
        }
      }
    }
    if (live === 0 && timer !== undefined) stop();
  };
  const deadline = (ms: number, fire: () => void) => {
    const t = now();
    if (timer === undefined) {
      swept = Math.floor(t / tickMs);
      timer = interval.start(sweep, tickMs);
    }
    // The first tick that starts at or after the deadline, and never one already swept.
    const tick = Math.max(Math.ceil((t + ms) / tickMs), swept + 1);
    let bucket = wheel.get(tick);
    if (bucket === undefined) wheel.set(tick, bucket = { tick, live: 0, due: [] });
    const p: Pending = { fire, bucket };
    bucket.due.push(p);
    bucket.live++;
    live++;
    return () => {
      if (p.fire === undefined) return;
      p.fire = undefined;
      live--;
      // A Map delete only when a whole tick has emptied: under load that is about one per tick, not one per request (see above).
      if (--p.bucket.live === 0) wheel.delete(p.bucket.tick);
    };
  };
  return Object.defineProperty(deadline, "held", {
    get: () => [...wheel.values()].reduce((n, b) => n + b.due.length, 0),
  }) as CoarseTimers;
}
