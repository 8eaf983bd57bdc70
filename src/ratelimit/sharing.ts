/**
 * A rate limit counted across instances without a store call per request
 * (what Traefik users ask for, traefik#6042 and #8061): each instance counts
 * alone, and every `syncInterval` tells the others, through the state store,
 * what each key took from it since the last time (`report`), and takes off
 * its own buckets what the others' reports say (`reports`). A client that
 * spreads its requests over N instances is held to the limit within one
 * interval's worth of requests per instance.
 *
 * A report carries the last few windows, numbered, so that an instance that
 * read late (a slow store call) misses none, and applies each window once.
 */
import type { JsonValue, StateStore } from "../state/store.ts";
import type { TokenBuckets } from "./buckets.ts";

/**
 * The busiest keys one window reports at most: with keys of 64 characters at most (limiter.ts),
 * the windows of a report stay well under the store's 256 KiB.
 */
const KEYS_PER_WINDOW = 1000;
/** Windows a report carries: a reader may be this many intervals late and still see every one. */
const WINDOWS_KEPT = 3;

interface Window {
  readonly seq: number;
  readonly used: Record<string, number>;
}

/** The counter's run (a restart, or a limit made again by a reload, counts from 1 again). */
function runOf(value: JsonValue | undefined): string | undefined {
  const run = (value as { run?: unknown } | null)?.run;
  return typeof run === "string" ? run : undefined;
}

function windowsOf(value: JsonValue | undefined): Window[] {
  const windows = (value as { windows?: unknown } | null)?.windows;
  if (!Array.isArray(windows)) return [];
  return windows.filter((w): w is Window => {
    const x = w as Partial<Window> | null;
    return typeof x?.seq === "number" && typeof x.used === "object" && x.used !== null;
  });
}

export class SharedCounts {
  private seq = 0;
  private readonly sent: Window[] = [];
  /** The newest window applied, by instance, with the run it belongs to. */
  private readonly applied = new Map<string, { run: string | undefined; seq: number }>();
  /** This counter's run: windows are numbered within it. */
  private readonly run = crypto.randomUUID().slice(0, 8);
  private failing = false;

  constructor(
    private readonly buckets: TokenBuckets,
    private readonly store: Pick<StateStore, "report" | "reports">,
    /** The store's name for this limit: the same on every instance with the same rule. */
    private readonly topic: string,
    private readonly instance: string,
    intervalMs: number,
    private readonly log: (line: string) => void,
  ) {
    // What a key took matters until its bucket would have refilled (a Worker that goes idle tells nothing more,
    // and its last report must outlive that); an hour at most.
    this.ttlMs = Math.min(3_600_000, Math.max(intervalMs * (WINDOWS_KEPT + 1), buckets.refillMs));
  }

  private readonly ttlMs: number;

  /** One exchange: this instance's window out, the others' in. */
  async sync(now: () => number): Promise<void> {
    const used = this.buckets.drainUsed(KEYS_PER_WINDOW);
    this.sent.push({ seq: ++this.seq, used: Object.fromEntries(used) });
    if (this.sent.length > WINDOWS_KEPT) this.sent.shift();
    try {
      await this.store.report(this.topic, this.instance, { run: this.run, windows: this.sent as unknown as JsonValue }, this.ttlMs);
      const reports = await this.store.reports(this.topic);
      const at = now();
      for (const [instance, value] of Object.entries(reports)) {
        if (instance === this.instance) continue;
        const windows = windowsOf(value);
        const run = runOf(value);
        const seen = this.applied.get(instance);
        const last = seen !== undefined && seen.run === run ? seen.seq : undefined;
        // An instance (or run) seen for the first time: its newest window only (older ones are mostly refilled).
        const fresh = last === undefined ? windows.slice(-1) : windows.filter((w) => w.seq > last);
        for (const w of fresh) {
          for (const [key, n] of Object.entries(w.used)) if (typeof n === "number" && n > 0) this.buckets.deduct(key, n, at);
        }
        if (windows.length > 0) this.applied.set(instance, { run, seq: Math.max(last ?? 0, ...windows.map((w) => w.seq)) });
      }
      if (this.failing) this.log(`rate limit ${this.topic}: the state store answers again; counting with the other instances`);
      this.failing = false;
    } catch (error) {
      if (!this.failing) {
        this.log(
          `rate limit ${this.topic}: sharing counts through the state store failed, counting on this instance alone until it works: ${
            error instanceof Error ? error.message : String(error)
          }`,
        );
      }
      this.failing = true;
    }
  }
}
